//! Decompression on the other core while this one writes, as `tar -z` does with its gzip child.

use std::io::{self, Read};
use std::sync::mpsc;
use std::thread;

/// Reads `source` on a scoped thread into a few large buffers handed over through a channel.
pub(crate) fn read_ahead<'scope, 'env>(
    scope: &'scope thread::Scope<'scope, 'env>,
    mut source: Box<dyn Read + Send + 'env>,
) -> ReadAhead {
    const CHUNK: usize = 512 * 1024;
    let (tx, rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(4);
    let (recycle, recycled) = mpsc::channel::<Vec<u8>>();
    scope.spawn(move || {
        loop {
            let mut buf = recycled.try_recv().unwrap_or_default();
            buf.resize(CHUNK, 0);
            let sent = match fill(&mut source, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    buf.truncate(n);
                    tx.send(Ok(buf))
                }
                Err(e) => tx.send(Err(e)),
            };
            // A closed channel means the reader stopped (an entry was refused): stop too.
            if sent.is_err() {
                break;
            }
        }
    });
    ReadAhead {
        rx,
        recycle,
        current: Vec::new(),
        pos: 0,
        failed: None,
    }
}

/// Reads until `buf` is full or the source ends.
pub(crate) fn fill(source: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

pub(crate) struct ReadAhead {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    recycle: mpsc::Sender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    /// After an error the stream must not look like a clean end.
    failed: Option<io::ErrorKind>,
}

impl Read for ReadAhead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            if let Some(kind) = self.failed {
                return Err(io::Error::new(kind, "the stream failed earlier"));
            }
            match self.rx.recv() {
                Ok(Ok(next)) => {
                    let used = std::mem::replace(&mut self.current, next);
                    let _ = self.recycle.send(used);
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.failed = Some(e.kind());
                    return Err(e);
                }
                Err(mpsc::RecvError) => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
