//! Interoperability tests: hato-smpp against SMPP implementations we did not write.
//!
//! - `node_smsc`: the connector (Hato as an ESME) against an SMSC built on node-smpp (npm
//!   `smpp`), `peers/smsc.js`.
//! - `python_esme`: an ESME built on smpplib (PyPI), `peers/esme.py`, against the simulator.
//!
//! The peers are installed by `scripts/install-test-peers.sh` (pinned: `peers/package-lock.json`,
//! `peers/requirements.txt`). The tests find them through `HATO_TEST_NODE_PEERS` (the folder
//! holding `node_modules`) and `HATO_TEST_PYTHON` (a python that imports smpplib), or at the
//! installer's default locations. A missing peer fails the test, unless `HATO_SKIP_INTEROP=1`,
//! which turns that into a printed skip. Each peer is a child process killed on drop, and
//! every wait on it is bounded.

mod node_smsc;
mod peer;
mod python_esme;
