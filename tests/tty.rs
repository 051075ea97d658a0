//! `docker run -it`: on a pseudo-terminal the main process owns the terminal (it is the
//! foreground process group), so Ctrl-C reaches it and hookinit exits 130.

mod common;

use common::pty::Pty;
use common::*;

const FOREGROUND: &str = r#"
import os, signal
fg = os.tcgetpgrp(0) == os.getpgrp()
print("foreground" if fg else "background", flush=True)
signal.signal(signal.SIGINT, signal.SIG_DFL)
print("ready", flush=True)
while True:
    signal.pause()
"#;

#[test]
fn main_process_owns_the_terminal_and_ctrl_c_gives_130() {
    for mode in MODES {
        let mut pty = Pty::spawn(command(mode, &["--", PYTHON, "-c", FOREGROUND]));
        pty.expect("ready");
        assert!(
            pty.seen.contains("foreground"),
            "{mode:?}: main process is not in the foreground: {:?}",
            pty.seen
        );
        pty.send("\x03"); // Ctrl-C
        assert_eq!(pty.wait().code(), Some(130), "{mode:?}: {:?}", pty.seen);
    }
}

/// `docker run -it -e DEBUG=stayalive`: once the main process has crashed, Ctrl-C on the terminal
/// ends the stay (PID 1 took the terminal back) with the failure status.
#[test]
fn ctrl_c_ends_a_stay_on_a_terminal() {
    for mode in MODES {
        let run = tempdir();
        let mut cmd = command(mode, &["--", "sh", "-c", "exit 3"]);
        cmd.env("DEBUG", "stayalive")
            .env("HOOKINIT_RUN_DIR", run.path());
        let mut pty = Pty::spawn(cmd);
        pty.expect("end it:");
        pty.send("\x03"); // Ctrl-C
        assert_eq!(pty.wait().code(), Some(3), "{mode:?}: {:?}", pty.seen);
    }
}
