//! The writing half of an SMPP connection, shared by the connector and the simulator.

use futures::SinkExt;
use rusmpp::Command;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio_util::codec::FramedWrite;

use crate::codec::PduCodec;

/// What the writer task is asked to do.
// Nearly every value is the large variant; boxing it would allocate once per PDU.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Out {
    /// Send a PDU.
    Pdu(Command),
    /// Flush, shut the socket down, and stop.
    Close,
}

/// Writes what it receives, batching every PDU already queued into one flush.
pub(crate) async fn write_loop(
    mut sink: FramedWrite<OwnedWriteHalf, PduCodec>,
    mut rx: mpsc::UnboundedReceiver<Out>,
) {
    const BATCH: usize = 512;
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut close = false;
        let mut written = 0;
        while let Some(out) = next.take() {
            match out {
                Out::Pdu(command) => {
                    if sink.feed(command).await.is_err() {
                        return;
                    }
                }
                Out::Close => {
                    close = true;
                    break;
                }
            }
            written += 1;
            if written < BATCH {
                next = rx.try_recv().ok();
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
        if close {
            let _ = sink.get_mut().shutdown().await;
            return;
        }
    }
}
