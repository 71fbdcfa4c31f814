//! `troubleshooter rules`: the catalog this configuration loads, as text or Markdown.

use std::io::Write;

use lambda_troubleshooter::config::Config;
use lambda_troubleshooter::report::catalog_doc;
use lambda_troubleshooter::rules::Catalog;

use crate::RulesFormat;
use crate::error::CliError;

/// Prints every rule of the catalog (built-in, plus EXTRA_RULES_FILE, minus DISABLED_RULES).
pub fn run(format: RulesFormat) -> Result<(), CliError> {
    let config = Config::from_env()?;
    let catalog = Catalog::load(&config.extra_rule_files()?, &config.disabled_rules)?;
    let text = match format {
        RulesFormat::Text => catalog_doc::text(&catalog),
        RulesFormat::Markdown => catalog_doc::markdown(&catalog),
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}
