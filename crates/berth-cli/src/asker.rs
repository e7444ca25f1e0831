//! `{prompt: true}` secret values, typed on the terminal without echo.

use std::io::IsTerminal;

use berth_stack::SecretValue;

/// Asks on the terminal `berth up` runs on; never without one (the value is then missing,
/// which refuses the run before anything is applied).
pub struct TerminalAsker;

impl berth_ops::Asker for TerminalAsker {
    fn ask(&self, secret: &str, key: &str) -> Option<SecretValue> {
        if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
            return None;
        }
        let value = read_hidden(&format!(
            "value of secret `{secret}` key `{key}` (not shown): "
        ))?;
        Some(SecretValue::new(value))
    }
}

/// Asks `question` and reads one line from the terminal with echo off (restored afterwards);
/// the line end is dropped. Echo goes off before the question shows: someone who types as
/// soon as they see it must never see the value on the screen.
#[cfg(unix)]
fn read_hidden(question: &str) -> Option<String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let before = tcgetattr(&stdin).ok()?;
    let mut quiet = before.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    // The newline the user types still moves the cursor on.
    quiet.local_flags.insert(LocalFlags::ECHONL);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet).ok()?;
    eprint!("{question}");
    let mut line = String::new();
    let read = stdin.read_line(&mut line);
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &before);
    read.ok()?;
    let len = line.trim_end_matches(['\r', '\n']).len();
    line.truncate(len);
    Some(line)
}

/// On Windows the console echoes only what a read in line mode takes: the question can show
/// first, then the keys are read one by one without echo (what is typed before the read waits
/// unechoed in the console's input buffer).
#[cfg(not(unix))]
fn read_hidden(question: &str) -> Option<String> {
    eprint!("{question}");
    console::Term::stderr().read_secure_line().ok()
}
