//! `dockhand completions SHELL` and `dockhand man`: the command line (`cli::command`, with each
//! option's variable in its help) as a completion script (clap_complete) or a roff man page
//! (clap_mangen).

use std::io::Write;

use crate::error::{Error, Result};

/// The completion script for `shell` on stdout.
pub fn print(shell: clap_complete::Shell) -> Result<()> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut crate::cli::command(), "dockhand", &mut out);
    write_stdout(&out)
}

/// The man page (roff) on stdout: `dockhand man | man -l -`; with a subcommand, its own page
/// (dockhand-cleanup(1)), as the main page's SUBCOMMANDS section names them.
pub fn man(sub: Option<&str>) -> Result<()> {
    write_stdout(&man_page(sub)?)
}

pub fn man_page(sub: Option<&str>) -> Result<Vec<u8>> {
    let mut cmd = crate::cli::command();
    cmd.build();
    let page = match sub {
        None => cmd,
        Some(name) => {
            let names: Vec<String> = cmd
                .get_subcommands()
                .map(|s| s.get_name().to_string())
                .collect();
            // After `build`, clap has named it `dockhand-NAME` (display) and `dockhand NAME` (bin).
            cmd.find_subcommand(name).cloned().ok_or_else(|| {
                Error::input(format!("no subcommand {name:?}"))
                    .with_hint(format!("use one of: {}", names.join(", ")))
            })?
        }
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut out)
        .map_err(|e| Error::operation(format!("cannot render the man page: {e}")).with_source(e))?;
    Ok(out)
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::operation(format!("cannot write to stdout: {e}")).with_source(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_page_is_roff_with_the_commands_and_variables() {
        let page = String::from_utf8(man_page(None).unwrap()).unwrap();
        assert!(page.contains(".TH dockhand 1"), "{page}");
        for needle in [
            "cleanup",
            "completions",
            "DOCKHAND_IMAGES_REPO",
            "Exit codes",
        ] {
            assert!(page.contains(needle), "man page lacks {needle}");
        }
        // Vendor options are left out of `-h` but keep their text in the page.
        assert!(page.contains("Quay OAuth application token"), "{page}");
        let cleanup = String::from_utf8(man_page(Some("cleanup")).unwrap()).unwrap();
        assert!(cleanup.contains(".TH dockhand-cleanup 1"), "{cleanup}");
        assert!(cleanup.contains("DOCKHAND_KEEP_LAST"), "{cleanup}");
        assert!(man_page(Some("nope")).is_err());
    }
}
