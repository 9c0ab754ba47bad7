//! The repository-path grammar (`a/b/c`, lowercase components), shared by references and image
//! names, so that `reference` and `tag` need not import each other.

/// What is wrong with a repository path; shared by `reference` and image-name validation in `tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathProblem {
    Empty,
    EmptyComponent,
    /// Only case is wrong; `suggestion` is the whole path lowercased.
    Uppercase {
        suggestion: String,
    },
    InvalidComponent {
        component: String,
    },
}

/// Checks `a/b/c` against the component grammar `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
///
/// A component that is wrong for more than its case is reported as invalid first; the
/// lowercase suggestion is offered only when it would actually be valid.
pub fn check_repository_path(path: &str) -> Result<(), PathProblem> {
    if path.is_empty() {
        return Err(PathProblem::Empty);
    }
    if path.split('/').any(str::is_empty) {
        return Err(PathProblem::EmptyComponent);
    }
    let mut case_only = false;
    for component in path.split('/') {
        if is_valid_component(component) {
            continue;
        }
        if is_valid_component(&component.to_ascii_lowercase()) {
            case_only = true;
        } else {
            return Err(PathProblem::InvalidComponent {
                component: component.to_string(),
            });
        }
    }
    if case_only {
        return Err(PathProblem::Uppercase {
            suggestion: path.to_ascii_lowercase(),
        });
    }
    Ok(())
}

/// One repository component: runs of `[a-z0-9]` joined by `.`, `_`, `__` or `-+`.
fn is_valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let mut i = 0;
    loop {
        let run_start = i;
        while i < bytes.len() && is_lower_alnum(bytes[i]) {
            i += 1;
        }
        if i == run_start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        let sep_start = i;
        while i < bytes.len() && !is_lower_alnum(bytes[i]) {
            i += 1;
        }
        let sep = &bytes[sep_start..i];
        let valid_sep = matches!(sep, b"." | b"_" | b"__") || sep.iter().all(|&b| b == b'-');
        if !valid_sep {
            return false;
        }
    }
}

pub fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}
