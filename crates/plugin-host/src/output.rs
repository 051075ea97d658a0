//! A plugin's output in the container log: its stdout and stderr, line by line, and its `log`
//! import, all prefixed `hookinit: [NAME] ` and counted against one budget per hook call.
//!
//! Past the budget the plugin's writes still succeed (so a guest's `println!` never panics) but
//! are dropped, and one line says so. Partial lines are held until their newline or the end of
//! the hook call.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use hookinit_init::log::Level;

/// The log output of one plugin. Cheap to clone (shared).
#[derive(Clone)]
pub struct PluginOutput {
    inner: Arc<Mutex<Budget>>,
}

struct Budget {
    name: String,
    limit: usize,
    line_max: usize,
    used: usize,
    dropped: usize,
    /// Partial lines of stdout (0) and stderr (1).
    partial: [Vec<u8>; 2],
}

impl PluginOutput {
    pub fn new(name: &str, limit: usize, line_max: usize) -> PluginOutput {
        PluginOutput {
            inner: Arc::new(Mutex::new(Budget {
                name: name.to_string(),
                limit,
                line_max,
                used: 0,
                dropped: 0,
                partial: [Vec::new(), Vec::new()],
            })),
        }
    }

    /// A message from the `log` import, at `level` (may hold several lines).
    pub fn log(&self, level: Level, message: &str) {
        let mut b = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for line in message.lines() {
            b.emit(Some(level), line.as_bytes());
        }
    }

    /// Call at the end of a hook call: writes held partial lines and the count of dropped bytes,
    /// then resets the budget for the next call.
    pub fn end_call(&self) {
        let mut b = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for i in 0..2 {
            let rest = std::mem::take(&mut b.partial[i]);
            if !rest.is_empty() {
                b.emit(None, &rest);
            }
        }
        if b.dropped > 0 {
            let (name, dropped, limit) = (b.name.clone(), b.dropped, b.limit);
            write_plugin_line(
                &name,
                Some(Level::Warn),
                format!(
                    "log output over its limit of {} KiB per hook; {dropped} bytes dropped",
                    limit >> 10
                )
                .as_bytes(),
            );
        }
        b.used = 0;
        b.dropped = 0;
    }

    /// The stream for the plugin's stdout (`fd = 0`) or stderr (`fd = 1`).
    pub fn stream(&self, fd: usize) -> Stdio {
        Stdio {
            output: self.clone(),
            fd,
        }
    }

    fn write(&self, fd: usize, mut bytes: &[u8]) {
        let mut b = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(nl) = bytes.iter().position(|&c| c == b'\n') {
            let mut line = std::mem::take(&mut b.partial[fd]);
            line.extend_from_slice(&bytes[..nl]);
            b.emit(None, &line);
            bytes = &bytes[nl + 1..];
        }
        let room = b.line_max.saturating_sub(b.partial[fd].len());
        let keep = bytes.len().min(room);
        b.partial[fd].extend_from_slice(&bytes[..keep]);
        if keep < bytes.len() {
            // An endless line: emit what fits, drop the rest of it.
            let full = std::mem::take(&mut b.partial[fd]);
            b.emit(None, &full);
            b.dropped += bytes.len() - keep;
        }
    }
}

impl Budget {
    fn emit(&mut self, level: Option<Level>, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let cut = line.len().min(self.line_max);
        if self.used + cut > self.limit {
            self.dropped += line.len();
            return;
        }
        self.used += cut;
        write_plugin_line(&self.name, level, &line[..cut]);
    }
}

/// `hookinit: [NAME] LINE` for stdout/stderr (shown unless hookinit runs with errors only), or
/// through hookinit's logger at `level` for the `log` import.
fn write_plugin_line(name: &str, level: Option<Level>, line: &[u8]) {
    let text = String::from_utf8_lossy(line);
    let text: String = text
        .chars()
        .map(|c| if c.is_control() && c != '\t' { '?' } else { c })
        .collect();
    match level {
        Some(level) => hookinit_init::log::write_line(level, format_args!("[{name}] {text}")),
        None => hookinit_init::log::write_untagged(Level::Warn, format_args!("[{name}] {text}")),
    }
}

/// stdout or stderr of a plugin, as wasmtime-wasi wants it.
pub struct Stdio {
    output: PluginOutput,
    fd: usize,
}

impl IsTerminal for Stdio {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Stdio {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(Stdio {
            output: self.output.clone(),
            fd: self.fd,
        })
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(Stdio {
            output: self.output.clone(),
            fd: self.fd,
        })
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Stdio {
    async fn ready(&mut self) {}
}

impl OutputStream for Stdio {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.output.write(self.fd, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

impl tokio::io::AsyncWrite for Stdio {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.output.write(self.fd, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
