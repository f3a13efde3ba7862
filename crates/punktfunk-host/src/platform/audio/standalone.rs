//! `punktfunk-host audio-session`: a private D-Bus + PipeWire + WirePlumber for audio on a machine
//! without a desktop session (and for the audio tests). Prints
//! `READY runtime_dir=<dir> pipewire=<socket>` — point the host and apps at it with
//! `PIPEWIRE_RUNTIME_DIR=<dir>` — and runs until stdin closes, SIGINT or SIGTERM, then stops the
//! whole group and removes the directory.

use crate::platform::vdisplay::private_session::PrivateSession;
use anyhow::Result;
use std::io::Read as _;

pub fn run(runtime: &tokio::runtime::Runtime) -> Result<()> {
    let session = PrivateSession::start("punktfunk-audio", "the private audio session", &[])?;
    crate::services::status_line::status_line!(
        "READY runtime_dir={} pipewire={}",
        session.runtime_dir().display(),
        session.pipewire_socket().display()
    );
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        // A blocking reader thread: stdin reaching EOF (the parent went away) ends the session.
        let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            while matches!(std::io::stdin().read(&mut buf), Ok(n) if n > 0) {}
            let _ = closed_tx.send(());
        });
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            _ = closed_rx => {}
        }
        anyhow::Ok(())
    })?;
    session.stop()
}
