//! Writing results: tables for people, JSON for scripts, and a quiet stop when the
//! reader of standard output goes away.

use std::io::Write;

use serde_json::Value;

use crate::error::{CliError, Code};

/// Writes `text` and a newline to standard output.
pub(crate) fn line(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(stdout_error)
}

/// Writes raw bytes to standard output.
pub(crate) fn bytes(data: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(data)
        .and_then(|()| out.flush())
        .map_err(stdout_error)
}

/// Writes `value` as pretty JSON.
pub(crate) fn json(value: &Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::new(Code::Failure, format!("cannot format JSON: {e}")))?;
    line(&text)
}

/// The error for a failed write to standard output (quiet when its reader left).
pub(crate) fn stdout_error(e: std::io::Error) -> CliError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        CliError::new(Code::BrokenPipe, "")
    } else {
        CliError::new(
            Code::Failure,
            format!("cannot write to standard output: {e}"),
        )
    }
}

/// A table with a header row, columns padded to their widest cell (the last column is
/// not padded).
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> Result<(), CliError> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let render = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i + 1 == widths.len() {
                text.push_str(cell);
            } else {
                text.push_str(cell);
                let pad = widths[i].saturating_sub(cell.chars().count()) + 2;
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        text.trim_end().to_owned()
    };
    line(&render(&mut header.iter().copied()))?;
    for row in rows {
        line(&render(&mut row.iter().map(String::as_str)))?;
    }
    Ok(())
}

/// `1234567` → `1.2 MiB`.
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Milliseconds since the epoch as `2026-11-24 18:00:00 UTC`.
pub(crate) fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || format!("{ms} ms"),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(64 * 1024 * 1024), "64.0 MiB");
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(time(1_795_543_200_000), "2026-11-24 18:00:00 UTC");
    }
}
