//! `Query`: which logical files to list, by tag, type, folder, time and user data.

use memory_fs_file::index::Term;
use memory_fs_file::storage::SafePath;
use memory_fs_file::{FileRecord, Result};
use serde_json::Value;

/// A query over the logical files of a store; every condition set must hold.
///
/// ```
/// use memory_fs_target::Query;
/// let q = Query::new().tag("docs").file_type("markdown").data("owner", "ann".into());
/// assert_eq!(q.tags(), ["docs"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    tags: Vec<String>,
    file_type: Option<String>,
    folder: Option<String>,
    under: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
    data: Vec<(String, Value)>,
}

impl Query {
    /// Every file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Files whose last save carries `tag` (several tags: all of them).
    #[must_use]
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Files of the type named `name` (`json`, `markdown`…).
    #[must_use]
    pub fn file_type(mut self, name: impl Into<String>) -> Self {
        self.file_type = Some(name.into());
        self
    }

    /// Files kept in `folder` (exactly that folder).
    #[must_use]
    pub fn folder(mut self, folder: impl Into<String>) -> Self {
        self.folder = Some(folder.into().trim_matches('/').to_owned());
        self
    }

    /// Files with a folder equal to `prefix` or below it (segment-wise).
    #[must_use]
    pub fn under(mut self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into().trim_matches('/').to_owned();
        self.under = (!prefix.is_empty()).then_some(prefix);
        self
    }

    /// Files last saved at or after `ms` (milliseconds since the epoch, UTC).
    #[must_use]
    pub fn since(mut self, ms: i64) -> Self {
        self.since = Some(ms);
        self
    }

    /// Files last saved before `ms`.
    #[must_use]
    pub fn until(mut self, ms: i64) -> Self {
        self.until = Some(ms);
        self
    }

    /// Files whose user data has `field` equal to `value`.
    #[must_use]
    pub fn data(mut self, field: impl Into<String>, value: Value) -> Self {
        self.data.push((field.into(), value));
        self
    }

    /// The tags asked for.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// Whether `record` satisfies every condition.
    pub fn matches(&self, record: &FileRecord) -> bool {
        let meta = record.head.first_metadata();
        if let Some(t) = &self.file_type
            && record.head.config.file_type.name != *t
        {
            return false;
        }
        if !self.tags.is_empty() {
            let Some(m) = meta else { return false };
            if !self.tags.iter().all(|t| m.tags.contains(t)) {
                return false;
            }
        }
        if self.folder.is_some() || self.under.is_some() {
            let folders = record.all_folders();
            if let Some(f) = &self.folder
                && !folders.iter().any(|x| x == f)
            {
                return false;
            }
            if let Some(p) = &self.under
                && !folders.iter().any(|x| {
                    x == p
                        || x.strip_prefix(p.as_str())
                            .is_some_and(|r| r.starts_with('/'))
                })
            {
                return false;
            }
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(m) = meta else { return false };
            if self.since.is_some_and(|s| m.timestamp < s)
                || self.until.is_some_and(|u| m.timestamp >= u)
            {
                return false;
            }
        }
        if !self.data.is_empty() {
            let Some(m) = meta else { return false };
            if !self.data.iter().all(|(k, v)| m.data.get(k) == Some(v)) {
                return false;
            }
        }
        true
    }

    /// Posting prefixes whose listings, intersected (each group a union), hold every
    /// matching id; `None` when nothing in the query narrows by a posting.
    pub(crate) fn posting_groups(&self, now_ms: i64) -> Result<Option<Vec<Vec<SafePath>>>> {
        let mut groups: Vec<Vec<SafePath>> = Vec::new();
        for t in &self.tags {
            groups.push(vec![Term::Tag(t).prefix()?]);
        }
        if let Some(t) = &self.file_type {
            groups.push(vec![Term::Type(t).prefix()?]);
        }
        if let Some(f) = &self.folder {
            groups.push(vec![Term::Folder(f).prefix()?]);
        }
        for (k, v) in &self.data {
            if !v.is_object() && !v.is_array() {
                groups.push(vec![Term::Data(k, v).prefix()?]);
            }
        }
        if let Some(since) = self.since {
            let until = self.until.unwrap_or(now_ms + DAY_MS);
            if until > since {
                groups.push(
                    day_range_terms(since, until - 1)
                        .iter()
                        .map(Term::prefix)
                        .collect::<Result<_>>()?,
                );
            }
        }
        Ok((!groups.is_empty()).then_some(groups))
    }
}

const DAY_MS: i64 = 86_400_000;

/// Days since the epoch of a civil date (Howard Hinnant's days-from-civil).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day since the epoch.
fn civil(day: i64) -> (i64, u32, u32) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The fewest day, month and year terms covering the UTC days from the one holding
/// `from_ms` to the one holding `to_ms`, both included.
fn day_range_terms(from_ms: i64, to_ms: i64) -> Vec<Term<'static>> {
    let (first, last) = (from_ms.div_euclid(DAY_MS), to_ms.div_euclid(DAY_MS));
    let mut terms = Vec::new();
    let mut day = first;
    while day <= last {
        let (y, m, d) = civil(day);
        let year_end = days_from_civil(y + 1, 1, 1) - 1;
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        let month_end = days_from_civil(ny, nm, 1) - 1;
        if m == 1 && d == 1 && year_end <= last {
            terms.push(Term::Year(y));
            day = year_end + 1;
        } else if d == 1 && month_end <= last {
            terms.push(Term::Month(y, m));
            day = month_end + 1;
        } else {
            terms.push(Term::Day(y, m, d));
            day += 1;
        }
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips() {
        for day in [-800_000, -1, 0, 1, 10_956, 20_000, 2_932_896] {
            let (y, m, d) = civil(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
    }

    #[test]
    fn day_ranges_use_the_fewest_terms() {
        let ms = |y, m, d| days_from_civil(y, m, d) * DAY_MS;
        assert_eq!(
            day_range_terms(ms(2026, 11, 30), ms(2026, 12, 2)),
            [
                Term::Day(2026, 11, 30),
                Term::Day(2026, 12, 1),
                Term::Day(2026, 12, 2)
            ]
        );
        let whole = day_range_terms(ms(2024, 12, 31), ms(2027, 2, 1) + 5);
        assert_eq!(
            whole,
            [
                Term::Day(2024, 12, 31),
                Term::Year(2025),
                Term::Year(2026),
                Term::Month(2027, 1),
                Term::Day(2027, 2, 1)
            ]
        );
        let ten_years = day_range_terms(ms(2015, 3, 14), ms(2025, 9, 9));
        assert!(ten_years.len() < 80, "{}", ten_years.len());
    }
}
