//! `berth completions SHELL` and `berth man`, loaded by the real programs: bash registers the
//! completion, zsh's compinit finds it, fish completes berth's subcommands and options from
//! it, groff renders the manual page. PowerShell is not packaged for this machine, so its
//! script is checked for shape. A missing shell fails the test (scripts/test.sh installs
//! them), it is never skipped.

use std::path::Path;
use std::process::Command;

fn berth(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "berth {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("`{program}` is needed by this test (scripts/test.sh installs it): {e}")
        });
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn bash_registers_the_completion() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "berth.bash", &berth(&["completions", "bash"]));
    let out = run(
        "bash",
        &["-c", &format!("source {file} && complete -p berth")],
    );
    assert!(
        out.contains("-F _berth") && out.trim_end().ends_with("berth"),
        "{out}"
    );
}

#[test]
fn zsh_compinit_finds_the_completion() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "_berth", &berth(&["completions", "zsh"]));
    let script = format!(
        "fpath=({} $fpath); autoload -U compinit; compinit -u -d {}/zcompdump; print -r -- $_comps[berth]",
        dir.path().display(),
        dir.path().display()
    );
    let out = run("zsh", &["-f", "-c", &script]);
    assert_eq!(out.trim(), "_berth");
}

#[test]
fn fish_completes_subcommands_and_options() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "berth.fish", &berth(&["completions", "fish"]));
    let out = run(
        "fish",
        &[
            "--no-config",
            "-c",
            &format!("source {file}; complete -C 'berth '"),
        ],
    );
    for sub in ["up", "down", "plan", "check", "completions", "man"] {
        assert!(
            out.lines().any(|l| l.split('\t').next() == Some(sub)),
            "no `{sub}` in fish's completions:\n{out}"
        );
    }
    let options = run(
        "fish",
        &[
            "--no-config",
            "-c",
            &format!("source {file}; complete -C 'berth up --'"),
        ],
    );
    assert!(options.contains("--concurrency"), "{options}");
    // Must not: a subcommand's options are not offered at the top level.
    let top = run(
        "fish",
        &[
            "--no-config",
            "-c",
            &format!("source {file}; complete -C 'berth --'"),
        ],
    );
    assert!(!top.contains("--concurrency"), "{top}");
}

#[test]
fn powershell_script_registers_a_native_completer_for_every_subcommand() {
    let script = berth(&["completions", "powershell"]);
    assert!(
        script.contains("Register-ArgumentCompleter -Native -CommandName 'berth'"),
        "{script}"
    );
    for sub in ["up", "down", "plan", "check", "local", "cluster"] {
        assert!(
            script.contains(&format!("[CompletionResult]::new('{sub}'")),
            "no `{sub}` in the PowerShell completer"
        );
    }
}

#[test]
fn the_manual_page_renders_with_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "berth.1", &berth(&["man"]));
    // Plain text (no overstrike), words joined by one space (groff justifies lines).
    let out = run("groff", &["-man", "-Tutf8", "-P-cbou", &file]);
    let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        out.contains("berth takes a stack of services onto Kubernetes"),
        "{out}"
    );
    for sub in ["berth-up", "berth-down", "berth-completions"] {
        assert!(out.contains(sub), "no `{sub}` in the manual page");
    }
}

#[test]
fn an_unknown_shell_is_bad_input() {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["completions", "cmd.exe"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values"));
}
