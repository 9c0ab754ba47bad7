//! The binary on a terminal and off it: progress bars and colour only on a terminal (or when
//! `--color always` asks for colour), never in a log. A terminal is a pty given by util-linux
//! `script -q -c CMD /dev/null`, which copies everything the program writes to its own stdout.

use crate::support;

use std::path::Path;
use std::process::Command;

use support::RegistryServer;

/// What a run wrote (stdout and stderr together under a pty) and its exit code.
#[derive(Debug)]
struct Screen {
    code: i32,
    out: String,
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn base(cmd: &mut Command, home: &Path, env: &[(&str, &str)]) {
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .envs(env.iter().copied())
        .current_dir(home);
}

/// Runs dockhand on a pty (`TERM=xterm-256color`, as a terminal emulator sets it).
fn on_pty(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Screen {
    let line = std::iter::once(env!("CARGO_BIN_EXE_dockhand"))
        .chain(args.iter().copied())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new("script");
    base(&mut cmd, home, env);
    // script runs the command with $SHELL (unset here: /bin/sh) and exits with its status (-e).
    let out = cmd
        .env("TERM", "xterm-256color")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run script (util-linux)");
    Screen {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

/// Runs dockhand with pipes, as a CI runner does (TERM set all the same).
fn in_pipe(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Screen {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dockhand"));
    base(&mut cmd, home, env);
    let out = cmd
        .env("TERM", "xterm-256color")
        .args(args)
        .output()
        .expect("run dockhand");
    Screen {
        code: out.status.code().unwrap_or(-1),
        out: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// indicatif redraws its line by clearing it: ESC [2K (erase line), or ESC [K from column 0.
fn has_bar(out: &str) -> bool {
    out.contains("\x1b[2K") || out.contains("\r\x1b[K")
}

struct Setup {
    _reg: RegistryServer,
    home: tempfile::TempDir,
    repo: String,
    image: String,
}

fn setup() -> Setup {
    let reg = RegistryServer::anonymous();
    let home = tempfile::tempdir().unwrap();
    dockhand::fixtures::seed_example(&home.path().join("images")).unwrap();
    let image = format!(
        "backend=oci:{}",
        home.path().join("images").join("backend").display()
    );
    let repo = format!("{}/tty", reg.host());
    Setup {
        _reg: reg,
        home,
        repo,
        image,
    }
}

#[test]
fn progress_bars_only_on_a_terminal() {
    let s = setup();
    let home = s.home.path();
    let publish = |tag: &'static str| {
        vec![
            "publish",
            "-i",
            s.repo.as_str(),
            "--image",
            s.image.as_str(),
            "--tag-custom",
            tag,
        ]
    };

    // On a terminal: a bar while uploading.
    let run = on_pty(home, &publish("one"), &[]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(has_bar(&run.out), "no bar on a terminal: {run:#?}");
    assert!(run.out.contains("publishing"), "{run:#?}");
    // A line per image with its bytes uploaded.
    assert!(run.out.contains("backend  "), "{run:#?}");
    assert!(run.out.contains(" uploaded ("), "{run:#?}");

    // In a pipe: the same work, and not one control sequence.
    let run = in_pipe(home, &publish("two"), &[]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(!run.out.contains('\x1b'), "escape in a log: {run:#?}");
    assert!(
        !run.out.contains('\r'),
        "carriage return in a log: {run:#?}"
    );

    // --color never on a terminal: no bar, no colour.
    let never = [publish("four"), vec!["--color", "never"]].concat();
    let run = on_pty(home, &never, &[]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(!run.out.contains('\x1b'), "--color never: {run:#?}");

    // Cleanup on a terminal: a bar of the deletions done of those planned, then the coloured
    // table (stdout is the terminal too).
    let cleanup = [
        "cleanup",
        "-i",
        s.repo.as_str(),
        "--image",
        "backend",
        "--keep-last",
        "0",
        "--grace",
        "0",
        "--git-refs",
        "none",
    ];
    let run = on_pty(home, &cleanup, &[]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(has_bar(&run.out), "no bar on a terminal: {run:#?}");
    assert!(run.out.contains("cleaning up"), "{run:#?}");
    assert!(
        run.out.contains("\x1b[31mdeleted"),
        "table not coloured: {run:#?}"
    );

    // Cleanup in a pipe: plain; with CLICOLOR_FORCE coloured, but never a bar.
    ok_publish(home, &s);
    let run = in_pipe(home, &cleanup, &[]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(!run.out.contains('\x1b'), "escape in a log: {run:#?}");
    ok_publish(home, &s);
    let run = in_pipe(home, &cleanup, &[("CLICOLOR_FORCE", "1")]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.out.contains("\x1b[31mdeleted"), "{run:#?}");
    assert!(!has_bar(&run.out), "a bar in a log: {run:#?}");
    // --color always in a pipe: colour, no bar.
    ok_publish(home, &s);
    let always = [&cleanup[..], &["--color", "always"]].concat();
    let run = in_pipe(home, &always, &[]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.out.contains("\x1b[31mdeleted"), "{run:#?}");
    assert!(!has_bar(&run.out), "a bar in a log: {run:#?}");
}

fn ok_publish(home: &Path, s: &Setup) {
    let run = in_pipe(
        home,
        &[
            "publish",
            "-i",
            &s.repo,
            "--image",
            &s.image,
            "--tag-custom",
            "again",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:#?}");
}
