//! The first bytes of a connection, read to tell HTTP/2 from HTTP/1, and a stream that hands
//! them out again before the rest: waiting for them costs nothing (no `peek` loop).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The HTTP version a connection speaks, told by its first bytes (or by TLS's ALPN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Protocol {
    Http1,
    Http2,
}

/// `inner`, with `head[start..end]` read first.
pub(super) struct Rewind<S> {
    head: [u8; PREFACE.len()],
    start: usize,
    end: usize,
    inner: S,
}

/// Reads until the peer has sent at least one byte, and, while what it sent is the start of
/// the HTTP/2 preface, the whole 24-byte preface; tells which protocol it speaks and returns
/// the stream with those bytes put back. `None` when the peer closed (or failed) first.
pub(super) async fn first_bytes<S>(mut stream: S) -> Option<(Protocol, Rewind<S>)>
where
    S: AsyncRead + Unpin,
{
    let mut head = [0u8; PREFACE.len()];
    let mut end = 0;
    let protocol = loop {
        match stream.read(&mut head[end..]).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => end += n,
        }
        if head[..end] != PREFACE[..end] {
            break Protocol::Http1;
        }
        if end == PREFACE.len() {
            break Protocol::Http2;
        }
    };
    let rewind = Rewind {
        head,
        start: 0,
        end,
        inner: stream,
    };
    Some((protocol, rewind))
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.start < this.end {
            let n = buf.remaining().min(this.end - this.start);
            buf.put_slice(&this.head[this.start..this.start + n]);
            this.start += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// What `first_bytes` decides for `sent` (then the peer closes), and every byte read back.
    async fn classify(chunks: &[&[u8]]) -> Option<(Protocol, Vec<u8>)> {
        let (mut client, server) = tokio::io::duplex(64);
        let chunks: Vec<Vec<u8>> = chunks.iter().map(|c| c.to_vec()).collect();
        let writer = tokio::spawn(async move {
            for chunk in chunks {
                client.write_all(&chunk).await.unwrap();
                tokio::task::yield_now().await;
            }
            client.shutdown().await.unwrap();
        });
        let (protocol, mut stream) = first_bytes(server).await?;
        let mut all = Vec::new();
        stream.read_to_end(&mut all).await.unwrap();
        writer.await.unwrap();
        Some((protocol, all))
    }

    #[tokio::test]
    async fn the_bytes_read_to_decide_are_read_again() {
        let (p, bytes) = classify(&[b"GET / HTTP/1.1\r\n\r\n"]).await.unwrap();
        assert_eq!(
            (p, bytes.as_slice()),
            (Protocol::Http1, &b"GET / HTTP/1.1\r\n\r\n"[..])
        );
        let (p, bytes) = classify(&[b"PRI * HTTP/2", b".0\r\n\r\nSM\r\n\r\n", b"frames"])
            .await
            .unwrap();
        assert_eq!(p, Protocol::Http2);
        assert_eq!(bytes, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nframes");
        // Starts like the preface, then differs: HTTP/1.
        let (p, bytes) = classify(&[b"PRI", b" x"]).await.unwrap();
        assert_eq!((p, bytes.as_slice()), (Protocol::Http1, &b"PRI x"[..]));
        // Closed before deciding.
        assert!(classify(&[b"PRI * HTTP/2.0"]).await.is_none());
        assert!(classify(&[]).await.is_none());
    }
}
