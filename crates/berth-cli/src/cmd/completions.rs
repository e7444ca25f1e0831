//! `berth completions SHELL` and `berth man`: what a shell and `man` need, generated from the
//! same command definitions the parser uses, so they never fall behind a new option.

use std::io::Write;

use clap::Args;
use clap_complete::Shell;

use crate::exit::Exit;

#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, powershell or elvish.
    pub shell: Shell,
}

/// Writes the completion script for `args.shell` to stdout.
///
/// bash: `berth completions bash > ~/.local/share/bash-completion/completions/berth`;
/// zsh: into a folder of `$fpath` as `_berth`; fish: `~/.config/fish/completions/berth.fish`;
/// PowerShell: `berth completions powershell | Out-String | Invoke-Expression` in `$PROFILE`.
pub fn completions(args: CompletionsArgs, mut command: clap::Command) -> anyhow::Result<Exit> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "berth", &mut out);
    write_out(&out)
}

/// Writes berth's manual page (roff, section 1) to stdout.
pub fn man(command: clap::Command) -> anyhow::Result<Exit> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command).render(&mut out)?;
    write_out(&out)
}

fn write_out(bytes: &[u8]) -> anyhow::Result<Exit> {
    let mut stdout = std::io::stdout().lock();
    // A reader that stops early (`| head`) is no error of berth's.
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(Exit::Ok),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Exit::Ok),
        Err(e) => Err(e.into()),
    }
}
