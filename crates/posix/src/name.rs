//! `Name`: an entry name (or a cached path) stored inline when short.
//!
//! Most names are short, so they live in the hash table's bucket itself: looking one
//! up compares bytes already in the cache line being probed, and creating or
//! removing a file allocates and frees no separate name.

use std::hash::{Hash, Hasher};

/// Longest name kept inline.
const INLINE: usize = 22;

/// A name: inline up to 22 bytes, on the heap beyond. Always valid UTF-8 (it is made
/// from a `&str`).
#[derive(Clone)]
pub(crate) enum Name {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Name {
    pub(crate) fn new(name: &str) -> Self {
        if name.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..name.len()].copy_from_slice(name.as_bytes());
            Self::Inline {
                len: name.len() as u8,
                bytes,
            }
        } else {
            Self::Heap(name.into())
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Self::Heap(s) => s.as_bytes(),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Made from a `&str` and never cut, so always UTF-8; the fallback is
            // unreachable but keeps this free of `unsafe`.
            Self::Inline { .. } => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            Self::Heap(s) => s,
        }
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Name {}

/// Hashes as its bytes alone (one hasher round; no length prefix, since keys are
/// always compared in full), the same as a [`Query`] for it.
impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.as_bytes());
    }
}

/// A name to look up, borrowed from a path.
pub(crate) struct Query<'a>(pub(crate) &'a str);

impl Hash for Query<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.0.as_bytes());
    }
}

impl hashbrown::Equivalent<Name> for Query<'_> {
    fn equivalent(&self, key: &Name) -> bool {
        key.as_bytes() == self.0.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_inline_and_long_ones_are_not() {
        assert_eq!(std::mem::size_of::<Name>(), 24);
        for s in [
            "",
            "a",
            "héllo",
            &"x".repeat(22),
            &"y".repeat(23),
            &"z".repeat(255),
        ] {
            let n = Name::new(s);
            assert_eq!(n.as_str(), s);
            assert_eq!(n.as_bytes(), s.as_bytes());
            assert_eq!(matches!(n, Name::Inline { .. }), s.len() <= INLINE);
            assert_eq!(n, Name::new(s));
        }
        assert_ne!(Name::new("ab"), Name::new("a"));
    }
}
