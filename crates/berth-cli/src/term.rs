//! What berth's output may assume of the terminal it writes to: the one place that decides
//! colours and the redrawn live view, the same way on every system.
//!
//! Colours and cursor movement are ANSI escape sequences. Unix terminals understand them; a
//! Windows console does once a program turns on its virtual-terminal processing (Windows 10
//! and later; Windows Terminal has it on already), which [`ansi`] does once per run. Where that
//! fails (an old console), output stays plain and the live view prints lines, as it does when
//! output goes to a file or a pipe. `NO_COLOR` (no-color.org) turns colours off everywhere.

use std::io::IsTerminal;
use std::sync::OnceLock;

/// Which of berth's two output streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn is_terminal(self) -> bool {
        match self {
            Stream::Stdout => std::io::stdout().is_terminal(),
            Stream::Stderr => std::io::stderr().is_terminal(),
        }
    }
}

/// Whether the console understands ANSI escape sequences, turning them on where the system
/// needs that (Windows); true on other systems.
fn ansi() -> bool {
    static ANSI: OnceLock<bool> = OnceLock::new();
    *ANSI.get_or_init(|| anstyle_query::windows::enable_ansi_colors().unwrap_or(true))
}

/// Whether to colour what goes to `stream`: a terminal that understands ANSI, and no
/// `NO_COLOR`.
pub fn colour(stream: Stream) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none() && ansi()
}

/// Whether the live view may redraw its table in place on `stream` (cursor movement needs
/// ANSI, whatever `NO_COLOR` says).
pub fn redraws(stream: Stream) -> bool {
    stream.is_terminal() && ansi()
}
