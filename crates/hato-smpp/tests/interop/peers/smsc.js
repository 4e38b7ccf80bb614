'use strict';
// A small SMSC on node-smpp (the npm package `smpp`), the foreign peer of hato-smpp's
// interop tests (tests/interop/node_smsc.rs).
//
//   node smsc.js <port> <system_id> <password>
//
// Listens on 127.0.0.1:<port> (0 picks a free port) and prints `READY <port>` on stdout once
// listening. It accepts bind_transmitter / bind_receiver / bind_transceiver with these
// credentials (anything else gets ESME_RINVPASWD), answers submit_sm with a message id and,
// when registered_delivery asks for one, sends a text delivery receipt (esm_class 0x04) on a
// receiving session of the same system_id once the response is written.
//
// Everything it sees is printed as one JSON object per line on stdout ("event": "bind",
// "submit_sm", "deliver_sm_resp", "enquire_link", "unbind", "close"). Commands come as JSON
// lines on stdin:
//
//   {"cmd":"mo","from":"819011112222","to":"12345","text":"STOP","data_coding":0}
//   {"cmd":"mo","from":...,"to":...,"parts":["first ","second"],"data_coding":8,"reference":7,
//    "scheme":"udh8"}
//
// The first sends one deliver_sm; the second a concatenated message, one deliver_sm per part,
// in order. "scheme": "udh8" (default: a user data header with information element 0x00),
// "udh16" (element 0x08), "sar" (sar_* TLVs) or "payload" (header and text in
// message_payload, short_message empty; without "parts", the text alone in message_payload). Each deliver_sm_resp is
// reported with the `tag` given in the command (or "mo"). Closing stdin stops the SMSC.

const readline = require('readline');
const smpp = require('smpp');

const [portArg, systemId, password] = process.argv.slice(2);
if (portArg === undefined || systemId === undefined || password === undefined) {
	process.stderr.write('usage: node smsc.js <port> <system_id> <password>\n');
	process.exit(2);
}

const RECEIPT_ESM_CLASS = 0x04;
const UDHI = 0x40;

function emit(event) {
	process.stdout.write(JSON.stringify(event) + '\n');
}

function hex(buffer) {
	return Buffer.isBuffer(buffer) ? buffer.toString('hex') : null;
}

// node-smpp decodes short_message and message_payload into {udh: [Buffer], message: string}.
function content(value) {
	if (value === undefined || value === null) {
		return {text: null, udh: []};
	}
	if (typeof value === 'string') {
		return {text: value, udh: []};
	}
	if (Buffer.isBuffer(value)) {
		return {text: null, udh: [], raw: hex(value)};
	}
	return {text: value.message === undefined ? null : String(value.message), udh: (value.udh || []).map(hex)};
}

function smscTime(date) {
	const two = (n) => String(n).padStart(2, '0');
	return two(date.getUTCFullYear() % 100) + two(date.getUTCMonth() + 1) + two(date.getUTCDate()) +
		two(date.getUTCHours()) + two(date.getUTCMinutes());
}

// Bound sessions: {session, role, systemId}.
const bound = [];
let nextId = 0x5a000000;
let nextSession = 1;

function receiving(preferred) {
	const receives = (entry) => entry.role !== 'bind_transmitter';
	const own = bound.find((entry) => entry.session === preferred && receives(entry));
	return (own || bound.find(receives) || {}).session;
}

function deliver(session, options, tag) {
	const sent = session.deliver_sm(options, (resp) => {
		emit({event: 'deliver_sm_resp', tag, command_status: resp.command_status});
	});
	if (!sent) {
		emit({event: 'error', message: 'deliver_sm not written: socket closed', tag});
	}
}

function sendReceipt(session, submit, messageId, text, submittedAt) {
	const target = receiving(session);
	if (!target) {
		emit({event: 'error', message: 'no receiving session for a receipt', message_id: messageId});
		return;
	}
	const excerpt = (text || '').slice(0, 20);
	const receipt = `id:${messageId} sub:001 dlvrd:001 submit date:${smscTime(submittedAt)} ` +
		`done date:${smscTime(new Date())} stat:DELIVRD err:000 text:${excerpt}`;
	deliver(target, {
		source_addr_ton: submit.dest_addr_ton,
		source_addr_npi: submit.dest_addr_npi,
		source_addr: submit.destination_addr,
		dest_addr_ton: submit.source_addr_ton,
		dest_addr_npi: submit.source_addr_npi,
		destination_addr: submit.source_addr,
		esm_class: RECEIPT_ESM_CLASS,
		data_coding: 0,
		short_message: {message: receipt},
	}, 'receipt:' + messageId);
}

function onBind(session, pdu) {
	const ok = pdu.system_id === systemId && pdu.password === password;
	const status = ok ? 0 : smpp.ESME_RINVPASWD;
	emit({
		event: 'bind',
		session: session.number,
		command: pdu.command,
		system_id: pdu.system_id,
		interface_version: pdu.interface_version,
		command_status: status,
	});
	if (!ok) {
		session.send(pdu.response({command_status: status}));
		return;
	}
	session.send(pdu.response({system_id: 'nodesmsc'}));
	bound.push({session, role: pdu.command, systemId: pdu.system_id});
}

function onSubmit(session, pdu) {
	const entry = bound.find((e) => e.session === session);
	if (!entry || entry.role === 'bind_receiver') {
		session.send(pdu.response({command_status: smpp.ESME_RINVBNDSTS}));
		return;
	}
	const messageId = (nextId++).toString(16);
	const short = content(pdu.short_message);
	const payload = content(pdu.message_payload);
	const text = short.text || payload.text || '';
	emit({
		event: 'submit_sm',
		message_id: messageId,
		service_type: pdu.service_type,
		source_addr_ton: pdu.source_addr_ton,
		source_addr_npi: pdu.source_addr_npi,
		source_addr: pdu.source_addr,
		dest_addr_ton: pdu.dest_addr_ton,
		dest_addr_npi: pdu.dest_addr_npi,
		destination_addr: pdu.destination_addr,
		esm_class: pdu.esm_class,
		registered_delivery: pdu.registered_delivery,
		data_coding: pdu.data_coding,
		// node-smpp turns both absolute and relative ("…R") times into a Date.
		validity_seconds: pdu.validity_period instanceof Date ?
			Math.round((pdu.validity_period.getTime() - Date.now()) / 1000) : null,
		text: short.text,
		udh: short.udh,
		message_payload: payload.text,
		sar_msg_ref_num: pdu.sar_msg_ref_num === undefined ? null : pdu.sar_msg_ref_num,
		sar_total_segments: pdu.sar_total_segments === undefined ? null : pdu.sar_total_segments,
		sar_segment_seqnum: pdu.sar_segment_seqnum === undefined ? null : pdu.sar_segment_seqnum,
	});
	const submittedAt = new Date();
	session.send(pdu.response({message_id: messageId}), () => {
		if (pdu.registered_delivery & 0x01) {
			setTimeout(() => sendReceipt(session, pdu, messageId, text, submittedAt), 10);
		}
	});
}

const server = smpp.createServer((session) => {
	session.number = nextSession++;
	session.on('error', (error) => emit({event: 'error', message: String(error)}));
	for (const command of ['bind_transceiver', 'bind_transmitter', 'bind_receiver']) {
		session.on(command, (pdu) => onBind(session, pdu));
	}
	session.on('submit_sm', (pdu) => onSubmit(session, pdu));
	session.on('enquire_link', (pdu) => {
		emit({event: 'enquire_link', session: session.number});
		session.send(pdu.response());
	});
	session.on('unbind', (pdu) => {
		emit({event: 'unbind', session: session.number});
		session.send(pdu.response(), () => session.close());
	});
	session.on('unknown', (pdu) => session.send(pdu.response()));
	session.on('close', () => {
		const index = bound.findIndex((e) => e.session === session);
		if (index >= 0) {
			bound.splice(index, 1);
		}
		emit({event: 'close', session: session.number});
	});
});

function mo(command) {
	const target = receiving(null);
	if (!target) {
		emit({event: 'error', message: 'no receiving session for an MO'});
		return;
	}
	const dataCoding = command.data_coding === undefined ? 0 : command.data_coding;
	const base = {
		source_addr_ton: 1,
		source_addr_npi: 1,
		source_addr: command.from,
		dest_addr_ton: /^\d{1,8}$/.test(command.to) ? 3 : 1,
		dest_addr_npi: /^\d{1,8}$/.test(command.to) ? 0 : 1,
		destination_addr: command.to,
		data_coding: dataCoding,
	};
	const tag = command.tag || 'mo';
	const scheme = command.scheme || 'udh8';
	if (command.parts === undefined) {
		const content = scheme === 'payload' ?
			{short_message: Buffer.alloc(0), message_payload: {message: command.text}} :
			{short_message: {message: command.text}};
		deliver(target, Object.assign({esm_class: 0}, content, base), tag);
		return;
	}
	const total = command.parts.length;
	const reference = command.reference === undefined ? 1 : command.reference;
	command.parts.forEach((text, i) => {
		const seq = i + 1;
		let content;
		if (scheme === 'sar') {
			content = {
				esm_class: 0,
				short_message: {message: text},
				sar_msg_ref_num: reference,
				sar_total_segments: total,
				sar_segment_seqnum: seq,
			};
		} else {
			const udh = scheme === 'udh16' ?
				Buffer.from([0x06, 0x08, 0x04, (reference >> 8) & 0xff, reference & 0xff, total, seq]) :
				Buffer.from([0x05, 0x00, 0x03, reference & 0xff, total, seq]);
			// With "payload", the header and text travel in message_payload (short_message
			// empty), as SMPP 3.4 allows when the UDHI flag is set.
			content = scheme === 'payload' ?
				{esm_class: UDHI, short_message: Buffer.alloc(0), message_payload: {udh, message: text}} :
				{esm_class: UDHI, short_message: {udh, message: text}};
		}
		deliver(target, Object.assign(content, base), `${tag}:${seq}`);
	});
}

server.on('error', (error) => {
	process.stderr.write(`smsc.js: ${error}\n`);
	process.exit(1);
});

server.listen(Number(portArg), '127.0.0.1', () => {
	process.stdout.write(`READY ${server.address().port}\n`);
});

const commands = readline.createInterface({input: process.stdin});
commands.on('line', (line) => {
	if (!line.trim()) {
		return;
	}
	let command;
	try {
		command = JSON.parse(line);
	} catch (error) {
		emit({event: 'error', message: `bad command: ${error}`});
		return;
	}
	if (command.cmd === 'mo') {
		mo(command);
	} else {
		emit({event: 'error', message: `unknown command ${command.cmd}`});
	}
});
commands.on('close', () => process.exit(0));
