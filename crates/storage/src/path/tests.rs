//! Unit tests for `SafePath` validation: one checker, many one-line cases.

use super::*;

#[track_caller]
fn ok(input: &str) {
    let path = SafePath::new(input).unwrap_or_else(|e| panic!("{input:?} refused: {e}"));
    assert_eq!(path.as_str(), input, "a valid key is kept byte for byte");
}

#[track_caller]
fn refused(input: &str, reason: InvalidPathReason) {
    let err = SafePath::new(input).expect_err(input);
    assert_eq!(err.reason(), reason, "{input:?}");
    assert_eq!(err.input(), input, "the input is handed back unchanged");
}

#[test]
fn accepts_plain_keys() {
    ok("a");
    ok("a/b");
    ok("ab");
    ok("a.b/c..d/...");
    ok(".hidden/x");
    ok("dir/file.json.config");
    ok("ünïcødé/日本語/😀.txt");
    ok("with space/and\\backslash");
    ok(&"x".repeat(MAX_SEGMENT_LEN));
    ok(&vec!["y".repeat(200); 5].join("/"));
}

#[test]
fn refuses_every_kind_of_bad_key() {
    refused("", InvalidPathReason::Empty);
    refused("/a", InvalidPathReason::Absolute);
    refused("/", InvalidPathReason::Absolute);
    refused("a/", InvalidPathReason::TrailingSlash);
    refused("a//b", InvalidPathReason::EmptySegment);
    refused(".", InvalidPathReason::DotSegment);
    refused("..", InvalidPathReason::DotSegment);
    refused("a/./b", InvalidPathReason::DotSegment);
    refused("a/../b", InvalidPathReason::DotSegment);
    refused("../a", InvalidPathReason::DotSegment);
    refused("a/..", InvalidPathReason::DotSegment);
    refused("a\0b", InvalidPathReason::ControlCharacter);
    refused("a\nb", InvalidPathReason::ControlCharacter);
    refused("tab\there", InvalidPathReason::ControlCharacter);
    refused("del\u{7f}", InvalidPathReason::ControlCharacter);
    refused(
        &"x".repeat(MAX_SEGMENT_LEN + 1),
        InvalidPathReason::SegmentTooLong,
    );
    refused(
        &vec!["y".repeat(200); 6].join("/"),
        InvalidPathReason::TooLong,
    );
}

#[test]
fn error_message_names_input_and_rule() {
    let err = SafePath::new("a/../b").expect_err("dot segment");
    insta::assert_snapshot!(err.to_string(), @r#"invalid storage key "a/../b": a key must not contain a '.' or '..' segment"#);
}

#[test]
fn navigation() {
    let p = SafePath::new("a/b/c.txt").expect("valid");
    assert_eq!(p.file_name(), "c.txt");
    assert_eq!(p.parent().expect("has parent").as_str(), "a/b");
    assert_eq!(p.segments().next_back(), Some("c.txt"));
    let base = SafePath::new("a").expect("valid");
    assert!(p.starts_with(&base));
    assert!(!SafePath::new("ab/c").expect("valid").starts_with(&base));
    assert_eq!(base.join("b/c.txt").expect("valid"), p);
    assert_eq!(
        base.join("").expect_err("empty").reason(),
        InvalidPathReason::Empty
    );
    assert_eq!(
        base.join("/x").expect_err("abs").reason(),
        InvalidPathReason::Absolute
    );
}

#[test]
fn orders_by_bytes() {
    let mut keys: Vec<SafePath> = ["ab", "a/b", "a", "B", "a.b"]
        .into_iter()
        .map(|k| SafePath::new(k).expect("valid"))
        .collect();
    keys.sort();
    let keys: Vec<&str> = keys.iter().map(SafePath::as_str).collect();
    assert_eq!(keys, ["B", "a", "a.b", "a/b", "ab"]);
}
