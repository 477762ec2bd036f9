//! Moving content in and out as streams: the input of `save` and the output of `load`,
//! counted, with a progress bar on a terminal for large values.

use std::io::{self, IsTerminal as _, Read, Write};

/// Values at least this large show a progress bar (when standard error is a terminal).
const BAR_FROM: u64 = 8 << 20;

/// Counts the bytes that pass, and draws them on a progress bar when there is one.
pub(crate) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    bytes: u64,
}

impl Progress {
    /// A counter for a value of `total` bytes (`None`: unknown, as a pipe's).
    pub(crate) fn new(total: Option<u64>, verb: &str) -> Self {
        let show = std::io::stderr().is_terminal() && total.is_none_or(|t| t >= BAR_FROM);
        let bar = show.then(|| {
            let (bar, template) = match total {
                Some(total) => (
                    indicatif::ProgressBar::new(total),
                    format!(
                        "{verb} [{{elapsed_precise}}] {{wide_bar}} {{bytes}}/{{total_bytes}} {{bytes_per_sec}}"
                    ),
                ),
                None => (
                    indicatif::ProgressBar::new_spinner(),
                    format!("{verb} {{spinner}} [{{elapsed_precise}}] {{bytes}} {{bytes_per_sec}}"),
                ),
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template(&template)
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Self { bar, bytes: 0 }
    }

    fn advance(&mut self, n: usize) {
        self.bytes += n as u64;
        if let Some(bar) = &self.bar {
            bar.set_position(self.bytes);
        }
    }

    /// How many bytes passed; clears the bar.
    pub(crate) fn finish(self) -> u64 {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.bytes
    }
}

/// A reader that reports what it yields to a [`Progress`].
pub(crate) struct Reading<'p, R> {
    pub(crate) inner: R,
    pub(crate) progress: &'p mut Progress,
}

impl<R: Read> Read for Reading<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n);
        Ok(n)
    }
}

/// A writer that reports what it takes to a [`Progress`].
pub(crate) struct Writing<'p, W> {
    pub(crate) inner: W,
    pub(crate) progress: &'p mut Progress,
}

impl<W: Write> Write for Writing<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.progress.advance(n);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
