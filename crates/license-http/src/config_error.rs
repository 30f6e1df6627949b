//! `ConfigError`: a configuration problem, naming the variable (its own module so that what
//! `config` reads through — the mail relay's checks — can say it too).

/// A configuration problem: which variable, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    /// The environment variable.
    pub variable: String,
    /// What is wrong, and what would be right.
    pub problem: String,
}

/// The error of `variable`.
pub(crate) fn bad(variable: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable: variable.into(),
        problem: problem.into(),
    }
}
