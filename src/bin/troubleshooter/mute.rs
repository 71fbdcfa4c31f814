//! `troubleshooter mute`, `mutes` and `unmute`: silence a function's findings (one rule, or all)
//! for a while, in the suppression table the deployed function reads (SUPPRESS_TABLE). The
//! function drops muted findings and counts them until the mute expires.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_troubleshooter::analysis::Analysis;
use lambda_troubleshooter::aws::dynamodb::SuppressionTable;
use lambda_troubleshooter::config::{self, Config};
use lambda_troubleshooter::deliver::suppress::Mute;
use lambda_troubleshooter::model::finding::rfc3339_millis;

use crate::aws::{runtime, sdk_config};
use crate::error::CliError;

/// The longest mute: a quarter. Longer is a rule to disable (DISABLED_RULES), not a mute.
const MAX_MUTE: Duration = Duration::from_secs(90 * 86_400);

/// Where the table is and how to reach it.
pub struct TableArgs {
    /// `--table`, else SUPPRESS_TABLE.
    pub table: Option<String>,
    /// `--region`, else the AWS configuration chain.
    pub region: Option<String>,
    /// `--profile`, else the AWS configuration chain.
    pub profile: Option<String>,
}

/// What `mute` was asked to do.
pub struct MuteArgs {
    /// The function name.
    pub function: String,
    /// The rule id; none mutes every rule.
    pub rule: Option<String>,
    /// How long, e.g. `24h`, `90m`, `2days`.
    pub duration: String,
    /// Why.
    pub reason: Option<String>,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// Seconds since the epoch, as people read them.
fn at(seconds: u64) -> String {
    rfc3339_millis(i64::try_from(seconds).unwrap_or(i64::MAX).saturating_mul(1000))
}

async fn table(args: TableArgs) -> Result<SuppressionTable, CliError> {
    let name = args.table.or_else(|| std::env::var(config::SUPPRESS_TABLE).ok().filter(|t| !t.is_empty())).ok_or_else(
        || {
            CliError::Usage(format!(
                "name the suppression table with --table or {} (the stack's output SuppressionTableName)",
                config::SUPPRESS_TABLE
            ))
        },
    )?;
    let config = sdk_config(args.region.as_deref(), args.profile.as_deref()).await?;
    Ok(SuppressionTable::new(aws_sdk_dynamodb::Client::new(&config), name))
}

fn describe(function: &str, rule: Option<&str>) -> String {
    match rule {
        Some(rule) => format!("{function} (rule {rule})"),
        None => format!("{function} (every rule)"),
    }
}

/// Writes a mute and says until when.
pub fn mute(args: MuteArgs, where_: TableArgs) -> Result<(), CliError> {
    let duration =
        humantime::parse_duration(&args.duration).ok().filter(|d| !d.is_zero() && *d <= MAX_MUTE).ok_or_else(|| {
            CliError::Usage(format!(
                "--for {:?}: expected a duration from 1s to 90days, such as 30m, 24h or 7days",
                args.duration
            ))
        })?;
    // The catalog this configuration loads, only to warn of a rule id it does not have.
    if let Some(rule) = &args.rule
        && !Analysis::new(Config::from_env()?)?.has_rule(rule)
    {
        eprintln!(
            "troubleshooter: note: no rule {rule} in this catalog (`troubleshooter rules` lists them); muting it anyway"
        );
    }
    let created = now();
    let mute = Mute {
        function: args.function,
        rule: args.rule,
        until: created + duration.as_secs(),
        reason: args.reason,
        created,
    };
    runtime()?.block_on(async {
        let table = table(where_).await?;
        table.put_mute(&mute).await.map_err(|e| CliError::Aws(e.to_string()))?;
        println!(
            "Muted {} until {}{}",
            describe(&mute.function, mute.rule.as_deref()),
            at(mute.until),
            mute.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
        );
        Ok(())
    })
}

/// Removes a mute.
pub fn unmute(function: String, rule: Option<String>, where_: TableArgs) -> Result<(), CliError> {
    runtime()?.block_on(async {
        let table = table(where_).await?;
        let removed = table.delete_mute(&function, rule.as_deref()).await.map_err(|e| CliError::Aws(e.to_string()))?;
        if removed {
            println!("Unmuted {}", describe(&function, rule.as_deref()));
        } else {
            eprintln!("troubleshooter: {} was not muted", describe(&function, rule.as_deref()));
        }
        Ok(())
    })
}

/// Lists the mutes in force, soonest to end first.
pub fn list(json: bool, where_: TableArgs) -> Result<(), CliError> {
    runtime()?.block_on(async {
        let table = table(where_).await?;
        let now = now();
        let mut mutes: Vec<Mute> = table
            .list_mutes("")
            .await
            .map_err(|e| CliError::Aws(e.to_string()))?
            .into_iter()
            .filter(|m| m.until > now)
            .collect();
        mutes.sort_by(|a, b| a.until.cmp(&b.until).then_with(|| a.function.cmp(&b.function)));
        if json {
            for mute in &mutes {
                println!("{}", serde_json::to_string(mute)?);
            }
        } else if mutes.is_empty() {
            println!("No mutes in {}.", table.table());
        } else {
            for mute in &mutes {
                let left = humantime::format_duration(Duration::from_secs((mute.until - now) / 60 * 60));
                println!(
                    "{}  until {} ({left} left){}",
                    describe(&mute.function, mute.rule.as_deref()),
                    at(mute.until),
                    mute.reason.as_deref().map(|r| format!("  {r}")).unwrap_or_default()
                );
            }
        }
        Ok(())
    })
}
