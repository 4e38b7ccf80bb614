"""An ESME on smpplib (PyPI), the foreign peer of hato-smpp's interop tests
(tests/interop/python_esme.rs).

    python esme.py '<spec as JSON>'

The spec: {"host", "port", "system_id", "password", "messages": [{"text", "source",
"destination", "concat": "udh" | "sar"}], "expect_mo_pdus": N, "timeout": seconds}.

It binds as a transceiver, prints {"event": "bound"} (or {"event": "bind_failed", "status"} and
stops), submits every message split by smpplib.gsm.make_parts (a user data header, or SAR
TLVs with "concat": "sar"), asking for receipts, then reads PDUs until every part is answered,
every accepted part has its receipt and `expect_mo_pdus` MO deliver_sm have come (each
answered ESME_ROK by smpplib), or the timeout passes. It unbinds and prints one summary line:
{"event": "done", "submits": [...], "receipts": [...], "mo": [...], "timed_out": bool}.
The texts are decoded here, independently of hato-smpp: GSM 03.38 with smpplib's own table.
"""

import json
import random
import re
import socket
import sys
import time

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm
import smpplib.smpp

UDHI = 0x40
RECEIPT = 0x04


def emit(event):
    sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def text_of(value):
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return str(value)


def gsm_decode(data):
    """Unpacked GSM 03.38 (one septet per octet) with the escape table, by smpplib's table."""
    table = smpplib.gsm.GSM_CHARACTER_TABLE
    out = []
    escaped = False
    for byte in data:
        if escaped:
            out.append(table[0x80 + byte] if 0x80 + byte < len(table) else "?")
            escaped = False
        elif byte == 0x1B:
            escaped = True
        else:
            out.append(table[byte] if byte < 0x80 else "?")
    return "".join(out)


def decode(data_coding, data):
    if data_coding == 0x08:
        return data.decode("utf-16-be", "replace")
    if data_coding in (0x01, 0x03):
        return data.decode("latin-1")
    return gsm_decode(data)


def split_udh(esm_class, data):
    """(concat (reference, total, seq) or None, body without the header)."""
    if not esm_class & UDHI or not data:
        return None, data
    length = data[0]
    header, body = data[1 : 1 + length], data[1 + length :]
    concat = None
    i = 0
    while i + 2 <= len(header):
        iei, iel = header[i], header[i + 1]
        value = header[i + 2 : i + 2 + iel]
        if iei == 0x00 and iel == 3:
            concat = (value[0], value[1], value[2])
        elif iei == 0x08 and iel == 4:
            concat = ((value[0] << 8) | value[1], value[2], value[3])
        i += 2 + iel
    return concat, body


def main():
    spec = json.loads(sys.argv[1])
    deadline = time.monotonic() + float(spec.get("timeout", 15))
    client = smpplib.client.Client(
        spec["host"], spec["port"], timeout=0.2, allow_unknown_opt_params=True
    )

    pending = {}  # sequence -> (message index, part index)
    submits = [
        {"text": m["text"], "message_ids": [], "statuses": [], "data_coding": None, "parts": 0}
        for m in spec["messages"]
    ]
    receipts = []
    mo_parts = {}  # (from, to, reference) -> {seq: text}, and totals
    mo = []
    mo_pdus = [0]

    def on_sent(pdu, **_):
        message, part = pending.pop(pdu.sequence)
        submits[message]["statuses"].append(pdu.status)
        submits[message]["message_ids"].append(text_of(pdu.message_id))

    def on_error(pdu):
        if pdu.command == "submit_sm_resp" and pdu.sequence in pending:
            on_sent(pdu)
        else:
            emit({"event": "error_pdu", "command": pdu.command, "status": pdu.status})

    def on_received(pdu, **_):
        if pdu.command != "deliver_sm":
            return None
        data = pdu.short_message or b""
        if pdu.esm_class & RECEIPT:
            text = decode(pdu.data_coding, data)
            found = re.search(r"id:(\S+)", text)
            stat = re.search(r"stat:(\S+)", text)
            receipts.append(
                {
                    "receipted_message_id": text_of(pdu.receipted_message_id),
                    "message_state": pdu.message_state,
                    "text_id": found.group(1) if found else None,
                    "stat": stat.group(1) if stat else None,
                    "source_addr": text_of(pdu.source_addr),
                    "destination_addr": text_of(pdu.destination_addr),
                    "text": text,
                }
            )
            return smpplib.consts.SMPP_ESME_ROK
        mo_pdus[0] += 1
        concat, body = split_udh(pdu.esm_class, data)
        if concat is None and pdu.sar_msg_ref_num is not None:
            concat = (pdu.sar_msg_ref_num, pdu.sar_total_segments, pdu.sar_segment_seqnum)
        source, destination = text_of(pdu.source_addr), text_of(pdu.destination_addr)
        text = decode(pdu.data_coding, body)
        if concat is None or concat[1] <= 1:
            mo.append({"from": source, "to": destination, "text": text, "parts": 1,
                       "source_addr_ton": pdu.source_addr_ton,
                       "data_coding": pdu.data_coding})
            return smpplib.consts.SMPP_ESME_ROK
        reference, total, seq = concat
        key = (source, destination, reference)
        parts = mo_parts.setdefault(key, {})
        parts[seq] = text
        if len(parts) == total:
            del mo_parts[key]
            mo.append({"from": source, "to": destination,
                       "text": "".join(parts[i] for i in sorted(parts)), "parts": total,
                       "source_addr_ton": pdu.source_addr_ton,
                       "data_coding": pdu.data_coding})
        return smpplib.consts.SMPP_ESME_ROK

    client.set_message_sent_handler(on_sent)
    client.set_error_pdu_handler(on_error)
    client.set_message_received_handler(on_received)

    client.connect()
    try:
        client.bind_transceiver(system_id=spec["system_id"], password=spec["password"])
    except smpplib.exceptions.PDUError as error:
        emit({"event": "bind_failed", "status": error.args[1] if len(error.args) > 1 else None})
        client.disconnect()
        return
    emit({"event": "bound"})

    for index, message in enumerate(spec["messages"]):
        use_udhi = message.get("concat", "udh") != "sar"
        parts, encoding, esm_class = smpplib.gsm.make_parts(message["text"], use_udhi=use_udhi)
        submits[index]["data_coding"] = encoding
        submits[index]["parts"] = len(parts)
        reference = random.randint(0, 0xFFFF)
        for seq, part in enumerate(parts, start=1):
            extra = {}
            if not use_udhi and len(parts) > 1:
                extra = {
                    "sar_msg_ref_num": reference,
                    "sar_total_segments": len(parts),
                    "sar_segment_seqnum": seq,
                }
            pdu = client.send_message(
                source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
                source_addr_npi=smpplib.consts.SMPP_NPI_UNK,
                source_addr=message.get("source", "PyESME"),
                dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
                destination_addr=message["destination"],
                short_message=part,
                data_coding=encoding,
                esm_class=esm_class,
                registered_delivery=smpplib.consts.SMPP_SMSC_DELIVERY_RECEIPT_BOTH,
                **extra,
            )
            pending[pdu.sequence] = (index, seq)

    def finished():
        accepted = sum(s.count(0) for s in (m["statuses"] for m in submits))
        return (
            not pending
            and len(receipts) >= accepted
            and mo_pdus[0] >= spec.get("expect_mo_pdus", 0)
        )

    timed_out = False
    while not finished():
        if time.monotonic() > deadline:
            timed_out = True
            break
        try:
            client.read_once(auto_send_enquire_link=False)
        except socket.timeout:
            continue

    unbind_status = None
    try:
        # Whatever comes before the unbind_resp (a late deliver_sm) is handled as usual.
        client.send_pdu(smpplib.smpp.make_pdu("unbind", client=client))
        while unbind_status is None and time.monotonic() < deadline + 2:
            try:
                pdu = client.read_pdu()
            except socket.timeout:
                continue
            if pdu.command == "unbind_resp":
                unbind_status = pdu.status
            elif pdu.command == "deliver_sm":
                client._message_received(pdu)
    except (smpplib.exceptions.PDUError, smpplib.exceptions.ConnectionError) as error:
        emit({"event": "unbind_failed", "error": str(error)})
    client.disconnect()
    emit(
        {
            "event": "done",
            "timed_out": timed_out,
            "submits": submits,
            "receipts": receipts,
            "mo": mo,
            "mo_pdus": mo_pdus[0],
            "unbind_status": unbind_status,
        }
    )


if __name__ == "__main__":
    main()
