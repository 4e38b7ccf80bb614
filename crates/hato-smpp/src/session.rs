//! One SMPP session of a connector: a TCP connection, its bind, and the loop that runs it.
//!
//! Each session has two tasks. The *writer* owns the socket's write half and sends whatever
//! it is given, batching PDUs into one flush when several are ready. The *session loop* owns
//! the read half and all state: it takes `submit_sm` requests from the connector, assigns
//! sequence numbers, keeps the in-flight map, matches responses, answers the SMSC's requests,
//! sends `enquire_link`, expires unanswered requests, and on shutdown stops taking requests,
//! waits for the in-flight window to drain, and unbinds.
//!
//! The window is enforced by the connector (a semaphore permit travels with each request and
//! is released when its response arrives), so the loop never blocks on it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rusmpp::pdus::{BindReceiver, BindTransceiver, BindTransmitter, DataSmResp, DeliverSmResp};
use rusmpp::types::COctetString;
use rusmpp::values::{InterfaceVersion, Npi, Ton};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::codec::{FramedRead, FramedWrite};
use tracing::{debug, info, warn};

use crate::codec::{CodecError, Frame, PduCodec, bodiless, generic_nack, is_response};
use crate::connector::{BindHandle, Shared};
use crate::event::{ConnectorEvent, InboundSms};
use crate::inbound::{self, Inbound};
use crate::pdu::MessageView;
use crate::reassembly::{Push, SetKey};
use crate::status::{
    self, ESME_RINVBNDSTS, ESME_RINVCMDID, ESME_RINVCMDLEN, ESME_ROK, ESME_RSYSERR, ESME_RX_P_APPN,
    ESME_RX_T_APPN, StatusClass,
};
use crate::wire::{Out, write_loop};

/// What a session is bound as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Transceiver,
    Transmitter,
    Receiver,
}

impl Role {
    fn transmits(self) -> bool {
        self != Role::Receiver
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Transceiver => "transceiver",
            Role::Transmitter => "transmitter",
            Role::Receiver => "receiver",
        }
    }
}

/// A `submit_sm` on its way to a session, with its window slot.
#[derive(Debug)]
pub(crate) struct SubmitRequest {
    pub(crate) pdu: rusmpp::pdus::SubmitSm,
    pub(crate) permit: OwnedSemaphorePermit,
    pub(crate) reply: oneshot::Sender<PartResult>,
}

/// What happened to one `submit_sm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PartResult {
    Accepted(String),
    Status(u32),
    /// Never written to a socket: safe to send elsewhere.
    NotSent,
    /// Written, but no response came.
    Lost(String),
}

/// Why a session ended or could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    #[error("cannot connect to {address}")]
    Connect {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no {0} within the response timeout")]
    Timeout(&'static str),
    #[error("bind refused with {}", status::status_name(*.0))]
    BindRejected(u32),
    #[error("connection closed by the SMSC")]
    Closed,
    #[error("unbound by the SMSC")]
    Unbound,
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("protocol error")]
    Codec(#[from] CodecError),
}

/// Which PDU brought a receipt or MO message, and so which response it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    DeliverSm,
    DataSm,
}

/// Answers one received `deliver_sm` or `data_sm`, whenever the engine has decided.
#[derive(Debug)]
pub(crate) struct Responder {
    writer: mpsc::UnboundedSender<Out>,
    sequence_number: u32,
    delivery: Delivery,
}

impl Responder {
    pub(crate) fn respond(self, status: u32) {
        let (status, sequence) = (CommandStatus::from(status), self.sequence_number);
        let command = match self.delivery {
            Delivery::DeliverSm => Command::new(
                status,
                sequence,
                DeliverSmResp::new(COctetString::empty(), Vec::new()),
            ),
            Delivery::DataSm => Command::new(
                status,
                sequence,
                DataSmResp::new(COctetString::empty(), Vec::new()),
            ),
        };
        // A closed session cannot be answered; the SMSC will deliver again.
        let _ = self.writer.send(Out::Pdu(command));
    }
}

struct Inflight {
    reply: oneshot::Sender<PartResult>,
    _permit: OwnedSemaphorePermit,
    deadline: Instant,
}

/// A bound session, ready to run.
pub(crate) struct Session {
    shared: Arc<Shared>,
    slot: Option<usize>,
    reader: FramedRead<OwnedReadHalf, PduCodec>,
    writer: mpsc::UnboundedSender<Out>,
    writer_task: JoinHandle<()>,
    writer_done: bool,
    next_sequence: u32,
    requests: Option<mpsc::Receiver<SubmitRequest>>,
}

fn bind_pdu(shared: &Shared, role: Role) -> Result<Pdu, SessionError> {
    let c = &shared.config;
    fn text<const MIN: usize, const MAX: usize>(
        field: &str,
        value: &str,
    ) -> Result<COctetString<MIN, MAX>, SessionError> {
        COctetString::from_string(value.to_owned())
            .map_err(|e| SessionError::Config(format!("{field}: {e:?}")))
    }
    let (system_id, password, system_type, range) = (
        text("system_id", &c.system_id)?,
        text("password", &c.password)?,
        text("system_type", &c.system_type)?,
        text("address_range", &c.address_range)?,
    );
    // SMPP 3.4 (0x34): rusmpp defaults to 5.0.
    let version = InterfaceVersion::Smpp3_4;
    let (ton, npi) = (Ton::Unknown, Npi::Unknown);
    Ok(match role {
        Role::Transceiver => Pdu::BindTransceiver(BindTransceiver::new(
            system_id,
            password,
            system_type,
            version,
            ton,
            npi,
            range,
        )),
        Role::Transmitter => Pdu::BindTransmitter(BindTransmitter::new(
            system_id,
            password,
            system_type,
            version,
            ton,
            npi,
            range,
        )),
        Role::Receiver => Pdu::BindReceiver(BindReceiver::new(
            system_id,
            password,
            system_type,
            version,
            ton,
            npi,
            range,
        )),
    })
}

/// Connects (TCP_NODELAY), binds, and starts the writer.
pub(crate) async fn connect_and_bind(
    shared: Arc<Shared>,
    role: Role,
    slot: Option<usize>,
) -> Result<Session, SessionError> {
    let config = &shared.config;
    let timeout = config.response_timeout;
    let address = format!("{}:{}", config.host, config.port);
    let stream = match tokio::time::timeout(
        timeout,
        TcpStream::connect((config.host.as_str(), config.port)),
    )
    .await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(source)) => return Err(SessionError::Connect { address, source }),
        Err(_) => return Err(SessionError::Timeout("connection")),
    };
    stream
        .set_nodelay(true)
        .map_err(|source| SessionError::Connect {
            address: address.clone(),
            source,
        })?;
    let (read, write) = stream.into_split();
    let mut reader = FramedRead::new(read, PduCodec::new());
    let mut sink = FramedWrite::new(write, PduCodec::new());
    sink.send(Command::new(
        CommandStatus::EsmeRok,
        1,
        bind_pdu(&shared, role)?,
    ))
    .await?;
    let deadline = Instant::now() + timeout;
    loop {
        let frame = match tokio::time::timeout_at(deadline, reader.next()).await {
            Err(_) => return Err(SessionError::Timeout("bind response")),
            Ok(None) => return Err(SessionError::Closed),
            Ok(Some(frame)) => frame?,
        };
        let (id, status, sequence) = match &frame {
            Frame::Command(c) => (
                u32::from(c.id()),
                u32::from(c.status()),
                c.sequence_number(),
            ),
            Frame::Invalid {
                command_id,
                command_status,
                sequence_number,
                ..
            } => (*command_id, *command_status, *sequence_number),
        };
        let is_bind_resp = matches!(id, 0x8000_0001 | 0x8000_0002 | 0x8000_0009)
            || id == u32::from(CommandId::GenericNack);
        if sequence == 1 && is_bind_resp {
            if status != ESME_ROK {
                return Err(SessionError::BindRejected(status));
            }
            break;
        }
        debug!(connector = %config.name, command_id = id, "ignoring a PDU before the bind response");
    }
    let (writer, rx) = mpsc::unbounded_channel();
    let writer_task = tokio::spawn(write_loop(sink, rx));
    // Publish the transmitter before anyone hears it is bound.
    let mut requests = None;
    if let (true, Some(slot)) = (role.transmits(), slot) {
        let window = Arc::new(Semaphore::new(config.window));
        let (tx, rx) = mpsc::channel(config.window);
        shared.slots[slot].set(Some(BindHandle {
            requests: tx,
            window,
        }));
        shared.stats.transmitters_up.fetch_add(1, Ordering::Relaxed);
        requests = Some(rx);
    }
    info!(connector = %config.name, role = role.as_str(), %address, "bound");
    Ok(Session {
        shared,
        slot,
        reader,
        writer,
        writer_task,
        writer_done: false,
        next_sequence: 2,
        requests,
    })
}

impl Session {
    fn sequence(&mut self) -> u32 {
        let sequence = self.next_sequence;
        self.next_sequence = if sequence >= 0x7FFF_FFFF {
            1
        } else {
            sequence + 1
        };
        sequence
    }

    fn send(&self, command: Command) {
        let _ = self.writer.send(Out::Pdu(command));
    }

    /// Runs until shutdown (then `Ok` after a clean unbind) or until the link fails.
    pub(crate) async fn run(mut self) -> Result<(), SessionError> {
        let shared = Arc::clone(&self.shared);
        let config = &shared.config;
        let mut requests = self.requests.take();
        let mut inflight: HashMap<u32, Inflight> = HashMap::new();
        let result = self.run_loop(&mut requests, &mut inflight).await;

        // Stop new requests first, then settle everything that was given to us.
        if let (Some(slot), Some(_)) = (self.slot, requests.as_ref()) {
            if let Some(handle) = shared.slots[slot].take() {
                handle.window.close();
            }
            shared.stats.transmitters_up.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(rx) = requests.as_mut() {
            rx.close();
            while let Ok(request) = rx.try_recv() {
                let _ = request.reply.send(PartResult::NotSent);
            }
        }
        for (_, pending) in inflight.drain() {
            shared.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
            shared.stats.failed.fetch_add(1, Ordering::Relaxed);
            let _ = pending.reply.send(PartResult::Lost(
                "the connection closed before the response".into(),
            ));
        }
        let _ = self.writer.send(Out::Close);
        if !self.writer_done {
            let mut writer_task = self.writer_task;
            if tokio::time::timeout(config.response_timeout, &mut writer_task)
                .await
                .is_err()
            {
                writer_task.abort();
            }
        }
        result
    }

    async fn run_loop(
        &mut self,
        requests: &mut Option<mpsc::Receiver<SubmitRequest>>,
        inflight: &mut HashMap<u32, Inflight>,
    ) -> Result<(), SessionError> {
        let shared = Arc::clone(&self.shared);
        let config = &shared.config;
        let timeout = config.response_timeout;
        let mut enquire = tokio::time::interval_at(
            Instant::now() + config.enquire_link_interval,
            config.enquire_link_interval,
        );
        enquire.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let sweep_every = (timeout / 4).clamp(Duration::from_millis(5), Duration::from_secs(1));
        let mut sweep = tokio::time::interval(sweep_every);
        sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut enquire_pending: Option<(u32, Instant)> = None;
        let mut draining = false;
        let mut requests_done = requests.is_none();
        let mut unbind_sent: Option<(u32, Instant)> = None;

        loop {
            if draining && requests_done && inflight.is_empty() && unbind_sent.is_none() {
                let sequence = self.sequence();
                self.send(Command::new(CommandStatus::EsmeRok, sequence, Pdu::Unbind));
                unbind_sent = Some((sequence, Instant::now() + timeout));
            }
            tokio::select! {
                biased;
                _ = shared.shutdown.cancelled(), if !draining => {
                    draining = true;
                    match requests.as_mut() {
                        Some(rx) => rx.close(),
                        None => requests_done = true,
                    }
                }
                frame = self.reader.next() => {
                    let frame = match frame {
                        None => return Err(SessionError::Closed),
                        Some(frame) => frame?,
                    };
                    match frame {
                        Frame::Command(command) => {
                            if let Some(end) = self.handle(command, inflight, &mut enquire_pending, unbind_sent.map(|u| u.0)) {
                                return end;
                            }
                        }
                        Frame::Invalid { command_id, command_status, sequence_number, error } => {
                            warn!(connector = %config.name, command_id, sequence_number, %error, "undecodable PDU");
                            if is_response(command_id) {
                                if command_id == u32::from(CommandId::SubmitSmResp) {
                                    let result = if command_status == ESME_ROK { PartResult::Accepted(String::new()) } else { PartResult::Status(command_status) };
                                    self.complete(inflight, sequence_number, result);
                                }
                            } else {
                                self.send(generic_nack(ESME_RINVCMDLEN, sequence_number));
                            }
                        }
                    }
                }
                request = recv(requests), if !requests_done => {
                    match request {
                        Some(request) => self.submit(request, inflight),
                        None => requests_done = true,
                    }
                }
                _ = enquire.tick() => {
                    if enquire_pending.is_none() {
                        let sequence = self.sequence();
                        self.send(Command::new(CommandStatus::EsmeRok, sequence, Pdu::EnquireLink));
                        enquire_pending = Some((sequence, Instant::now() + timeout));
                    }
                }
                _ = sweep.tick() => {
                    let now = Instant::now();
                    if enquire_pending.is_some_and(|(_, deadline)| deadline <= now) {
                        return Err(SessionError::Timeout("enquire_link response"));
                    }
                    if unbind_sent.is_some_and(|(_, deadline)| deadline <= now) {
                        return Ok(());
                    }
                    let expired: Vec<u32> = inflight.iter().filter(|(_, p)| p.deadline <= now).map(|(s, _)| *s).collect();
                    for sequence in expired {
                        shared.record_error(format!("no submit_sm_resp within {timeout:?}"));
                        self.complete(inflight, sequence, PartResult::Lost(format!("no response within {timeout:?}")));
                    }
                }
                _ = &mut self.writer_task, if !self.writer_done => {
                    self.writer_done = true;
                    return Err(SessionError::Closed);
                }
            }
        }
    }

    fn submit(&mut self, request: SubmitRequest, inflight: &mut HashMap<u32, Inflight>) {
        let sequence = self.sequence();
        let command = Command::new(CommandStatus::EsmeRok, sequence, request.pdu);
        if self.writer.send(Out::Pdu(command)).is_err() {
            let _ = request.reply.send(PartResult::NotSent);
            return;
        }
        let stats = &self.shared.stats;
        stats.submitted.fetch_add(1, Ordering::Relaxed);
        stats.in_flight.fetch_add(1, Ordering::Relaxed);
        inflight.insert(
            sequence,
            Inflight {
                reply: request.reply,
                _permit: request.permit,
                deadline: Instant::now() + self.shared.config.response_timeout,
            },
        );
    }

    fn complete(&self, inflight: &mut HashMap<u32, Inflight>, sequence: u32, result: PartResult) {
        let Some(pending) = inflight.remove(&sequence) else {
            debug!(connector = %self.shared.config.name, sequence, "response to an unknown or expired request");
            return;
        };
        let shared = &self.shared;
        shared.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        match &result {
            PartResult::Accepted(_) => {
                shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
            }
            PartResult::Status(code) => {
                shared.stats.failed.fetch_add(1, Ordering::Relaxed);
                if status::classify_status(*code) == StatusClass::Throttled {
                    shared.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    shared.pacer.throttled();
                }
                shared.record_error(format!(
                    "submit_sm refused with {}",
                    status::status_name(*code)
                ));
            }
            PartResult::Lost(_) | PartResult::NotSent => {
                shared.stats.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        let _ = pending.reply.send(result);
    }

    /// Handles one PDU; `Some` ends the session.
    fn handle(
        &mut self,
        command: Command,
        inflight: &mut HashMap<u32, Inflight>,
        enquire_pending: &mut Option<(u32, Instant)>,
        unbind_sequence: Option<u32>,
    ) -> Option<Result<(), SessionError>> {
        let sequence = command.sequence_number();
        let status = u32::from(command.status());
        match command.id() {
            CommandId::SubmitSmResp => {
                let result = if status == ESME_ROK {
                    let id = match command.pdu() {
                        Some(Pdu::SubmitSmResp(resp)) => resp.message_id().as_str().to_owned(),
                        _ => String::new(),
                    };
                    PartResult::Accepted(id)
                } else {
                    PartResult::Status(status)
                };
                self.complete(inflight, sequence, result);
            }
            CommandId::GenericNack => {
                if inflight.contains_key(&sequence) {
                    let status = if status == ESME_ROK {
                        ESME_RSYSERR
                    } else {
                        status
                    };
                    self.complete(inflight, sequence, PartResult::Status(status));
                } else if enquire_pending.is_some_and(|(s, _)| s == sequence) {
                    // The SMSC does not do enquire_link but is clearly alive.
                    *enquire_pending = None;
                } else {
                    warn!(connector = %self.shared.config.name, sequence, status, "generic_nack");
                }
            }
            CommandId::EnquireLink => {
                self.send(Command::new(
                    CommandStatus::EsmeRok,
                    sequence,
                    Pdu::EnquireLinkResp,
                ));
            }
            CommandId::EnquireLinkResp => {
                if enquire_pending.is_some_and(|(s, _)| s == sequence) {
                    *enquire_pending = None;
                }
            }
            CommandId::DeliverSm => match command.pdu() {
                Some(Pdu::DeliverSm(deliver)) => self.deliver(
                    sequence,
                    Delivery::DeliverSm,
                    MessageView::of_deliver_sm(deliver),
                ),
                _ => self.send(generic_nack(ESME_RINVCMDLEN, sequence)),
            },
            // An SMSC may send MO messages and receipts as data_sm: the same events, the same
            // ack gating, answered with data_sm_resp.
            CommandId::DataSm => match command.pdu() {
                Some(Pdu::DataSm(data)) => {
                    self.deliver(sequence, Delivery::DataSm, MessageView::of_data_sm(data))
                }
                _ => self.send(generic_nack(ESME_RINVCMDLEN, sequence)),
            },
            CommandId::Unbind => {
                self.send(Command::new(
                    CommandStatus::EsmeRok,
                    sequence,
                    Pdu::UnbindResp,
                ));
                return Some(Err(SessionError::Unbound));
            }
            CommandId::UnbindResp => {
                if unbind_sequence == Some(sequence) {
                    return Some(Ok(()));
                }
            }
            id => self.unexpected(id, sequence),
        }
        None
    }

    /// Anything an ESME is not asked to handle; the session goes on whatever it is.
    /// - `alert_notification` and `outbind` have no response PDU (SMPP 3.4 §4.12, §4.1.7):
    ///   not answered.
    /// - Other requests SMPP defines (`submit_sm`, `query_sm`, `bind_*`... sent to an ESME)
    ///   get their own response with `ESME_RINVBNDSTS`: valid PDUs, wrong direction and state.
    /// - An unknown `command_id` gets `generic_nack` with `ESME_RINVCMDID` (§4.3).
    /// - Responses to nothing we sent are dropped.
    fn unexpected(&self, id: CommandId, sequence: u32) {
        let name = &self.shared.config.name;
        let raw = u32::from(id);
        match id {
            CommandId::AlertNotification | CommandId::Outbind => {
                debug!(connector = %name, command_id = raw, "ignoring a PDU that has no response");
            }
            _ if is_response(raw) => {
                debug!(connector = %name, command_id = raw, sequence, "response to nothing pending");
            }
            CommandId::Other(_) => {
                warn!(connector = %name, command_id = raw, sequence, "unknown command_id");
                self.send(generic_nack(ESME_RINVCMDID, sequence));
            }
            request => {
                warn!(connector = %name, command_id = raw, sequence, "request an ESME does not serve");
                self.send(bodiless(
                    request.matching_response(),
                    ESME_RINVBNDSTS,
                    sequence,
                ));
            }
        }
    }

    /// A receipt or MO message (or part) from a `deliver_sm` or `data_sm`.
    fn deliver(&self, sequence: u32, delivery: Delivery, view: MessageView) {
        let shared = &self.shared;
        let responder = Responder {
            writer: self.writer.clone(),
            sequence_number: sequence,
            delivery,
        };
        match inbound::classify(&shared.config.name, &view) {
            Inbound::Receipt(receipt) => {
                tokio::spawn(hand_over(
                    Arc::clone(shared),
                    Handover::Receipt(receipt),
                    vec![responder],
                    None,
                ));
            }
            Inbound::Single(message) => {
                tokio::spawn(hand_over(
                    Arc::clone(shared),
                    Handover::Inbound(message),
                    vec![responder],
                    None,
                ));
            }
            Inbound::Part(part) => {
                let now = Instant::now().into_std();
                let pushed = shared.reassembler().push(now, part, responder);
                match pushed {
                    Push::Incomplete => {}
                    Push::Invalid(responder) => responder.respond(ESME_RX_P_APPN),
                    Push::AlreadyStored(responder) => responder.respond(ESME_ROK),
                    Push::Complete(message, responders, set) => {
                        let message = InboundSms {
                            connector: shared.config.name.clone(),
                            from: message.from,
                            to: message.to,
                            body: message.text,
                            parts: message.parts,
                        };
                        tokio::spawn(hand_over(
                            Arc::clone(shared),
                            Handover::Inbound(message),
                            responders,
                            Some(set),
                        ));
                    }
                }
            }
            Inbound::Unusable(reason) => {
                warn!(connector = %shared.config.name, %reason, ?delivery, "dropping an unusable receipt");
                responder.respond(ESME_RX_P_APPN);
            }
        }
    }
}

async fn recv(requests: &mut Option<mpsc::Receiver<SubmitRequest>>) -> Option<SubmitRequest> {
    match requests {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

enum Handover {
    Receipt(crate::receipt::DeliveryReceipt),
    Inbound(InboundSms),
}

/// Gives an event to the engine and answers the SMSC once the engine says it is stored.
async fn hand_over(
    shared: Arc<Shared>,
    handover: Handover,
    responders: Vec<Responder>,
    set: Option<SetKey>,
) {
    let (ack, acked) = oneshot::channel();
    let (event, counter) = match handover {
        Handover::Receipt(receipt) => (
            ConnectorEvent::Receipt { receipt, ack },
            &shared.stats.receipts,
        ),
        Handover::Inbound(message) => (
            ConnectorEvent::Inbound { message, ack },
            &shared.stats.inbound,
        ),
    };
    let stored = match shared.events.send(event).await {
        Ok(()) => {
            counter.fetch_add(1, Ordering::Relaxed);
            acked.await.unwrap_or(false)
        }
        Err(_) => false,
    };
    if stored && let Some(set) = set {
        shared.reassembler().stored(Instant::now().into_std(), set);
    }
    let status = if stored { ESME_ROK } else { ESME_RX_T_APPN };
    for responder in responders {
        responder.respond(status);
    }
}
