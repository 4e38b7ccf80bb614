//! SMPP `command_status` codes and what each means for a retry.

/// No error.
pub const ESME_ROK: u32 = 0x0000_0000;
/// Message length is invalid.
pub const ESME_RINVMSGLEN: u32 = 0x0000_0001;
/// Command length is invalid.
pub const ESME_RINVCMDLEN: u32 = 0x0000_0002;
/// Invalid command id.
pub const ESME_RINVCMDID: u32 = 0x0000_0003;
/// Incorrect bind status for the command.
pub const ESME_RINVBNDSTS: u32 = 0x0000_0004;
/// Already bound.
pub const ESME_RALYBND: u32 = 0x0000_0005;
/// System error.
pub const ESME_RSYSERR: u32 = 0x0000_0008;
/// Invalid source address.
pub const ESME_RINVSRCADR: u32 = 0x0000_000A;
/// Invalid destination address.
pub const ESME_RINVDSTADR: u32 = 0x0000_000B;
/// Bind failed.
pub const ESME_RBINDFAIL: u32 = 0x0000_000D;
/// Invalid password.
pub const ESME_RINVPASWD: u32 = 0x0000_000E;
/// Invalid system id.
pub const ESME_RINVSYSID: u32 = 0x0000_000F;
/// Message queue full.
pub const ESME_RMSGQFUL: u32 = 0x0000_0014;
/// submit_sm failed.
pub const ESME_RSUBMITFAIL: u32 = 0x0000_0045;
/// Throttling error: the ESME exceeded its allowed message rate.
pub const ESME_RTHROTTLED: u32 = 0x0000_0058;
/// Temporary application error: the peer should retry later.
pub const ESME_RX_T_APPN: u32 = 0x0000_0064;
/// Permanent application error: the peer should not retry.
pub const ESME_RX_P_APPN: u32 = 0x0000_0065;
/// Delivery failure.
pub const ESME_RDELIVERYFAILURE: u32 = 0x0000_00FE;
/// Unknown error.
pub const ESME_RUNKNOWNERR: u32 = 0x0000_00FF;

/// What a `command_status` means for the message that got it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusClass {
    /// Accepted.
    Ok,
    /// The SMSC is overloaded (`ESME_RTHROTTLED`, `ESME_RMSGQFUL`): slow down and retry.
    Throttled,
    /// A transient failure: retry later, possibly on another connector.
    Temporary,
    /// The SMSC will never accept this message as it is.
    Permanent,
}

/// Classifies a `command_status`. Temporary: `ESME_RSYSERR`, `ESME_RINVBNDSTS`,
/// `ESME_RSUBMITFAIL`, `ESME_RX_T_APPN`, `ESME_RDELIVERYFAILURE`, `ESME_RUNKNOWNERR`;
/// throttled: `ESME_RTHROTTLED`, `ESME_RMSGQFUL`; every other non-zero code is permanent.
pub fn classify_status(status: u32) -> StatusClass {
    match status {
        ESME_ROK => StatusClass::Ok,
        ESME_RTHROTTLED | ESME_RMSGQFUL => StatusClass::Throttled,
        ESME_RSYSERR
        | ESME_RINVBNDSTS
        | ESME_RSUBMITFAIL
        | ESME_RX_T_APPN
        | ESME_RDELIVERYFAILURE
        | ESME_RUNKNOWNERR => StatusClass::Temporary,
        _ => StatusClass::Permanent,
    }
}

/// The SMPP name of a status (`ESME_RTHROTTLED`), or its hex code for others.
pub fn status_name(status: u32) -> String {
    let name = match status {
        ESME_ROK => "ESME_ROK",
        ESME_RINVMSGLEN => "ESME_RINVMSGLEN",
        ESME_RINVCMDLEN => "ESME_RINVCMDLEN",
        ESME_RINVCMDID => "ESME_RINVCMDID",
        ESME_RINVBNDSTS => "ESME_RINVBNDSTS",
        ESME_RALYBND => "ESME_RALYBND",
        ESME_RSYSERR => "ESME_RSYSERR",
        ESME_RINVSRCADR => "ESME_RINVSRCADR",
        ESME_RINVDSTADR => "ESME_RINVDSTADR",
        ESME_RBINDFAIL => "ESME_RBINDFAIL",
        ESME_RINVPASWD => "ESME_RINVPASWD",
        ESME_RINVSYSID => "ESME_RINVSYSID",
        ESME_RMSGQFUL => "ESME_RMSGQFUL",
        ESME_RSUBMITFAIL => "ESME_RSUBMITFAIL",
        ESME_RTHROTTLED => "ESME_RTHROTTLED",
        ESME_RX_T_APPN => "ESME_RX_T_APPN",
        ESME_RX_P_APPN => "ESME_RX_P_APPN",
        ESME_RDELIVERYFAILURE => "ESME_RDELIVERYFAILURE",
        ESME_RUNKNOWNERR => "ESME_RUNKNOWNERR",
        other => return format!("0x{other:08X}"),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(classify_status(0), StatusClass::Ok);
        assert_eq!(classify_status(0x58), StatusClass::Throttled);
        assert_eq!(classify_status(0x14), StatusClass::Throttled);
        assert_eq!(classify_status(0x08), StatusClass::Temporary);
        assert_eq!(classify_status(0x64), StatusClass::Temporary);
        assert_eq!(classify_status(0x0B), StatusClass::Permanent);
        assert_eq!(classify_status(0x0400), StatusClass::Permanent);
    }

    #[test]
    fn names() {
        assert_eq!(status_name(0x58), "ESME_RTHROTTLED");
        assert_eq!(status_name(0x1234), "0x00001234");
    }
}
