//! The DynamoDB adapter: the suppression table every instance shares (SUPPRESS_TABLE), so a
//! storm that reaches many instances at once still sends one message per problem per window,
//! and the mutes `troubleshooter mute` writes.
//!
//! One table, created by the stack: on-demand, partition key `pk` and sort key `sk` (strings),
//! TTL on `expires_at` (seconds since the epoch).
//!
//! * A problem's item: `pk` = `finding#ACCOUNT#LOG_GROUP`, `sk` = `RULE_ID[#KEY VALUE…]`
//!   ([`Key`]), with the claimed `finding_id`, its `state` (`sending`, `sent`, `released`),
//!   `claimed_at` (milliseconds), the repeats `held_findings` / `held_occurrences` counted since
//!   the claim, and the `carried_*` counts the claimed finding reports; `first_seen` and
//!   `last_seen` (milliseconds, claims and repeats alike), `seen_count` (occurrences) and
//!   `claimed_new` (the claim was of a key not seen within its window: for an unhandled error,
//!   a new error type). It expires a day after its window, counted from its last sighting, so
//!   an idle function leaves nothing behind.
//! * A mute: `pk` = `mute`, `sk` = `FUNCTION#RULE` (`*` for every rule), with `function`, `rule`,
//!   `until`, `reason`, `created`; it expires at `until`.
//!
//! **Who sends.** A claim is one conditional `UpdateItem`: it succeeds only when the item does
//! not exist or its window has passed, so of any number of instances claiming at once exactly
//! one wins. One that loses reads the item (a consistent `GetItem`) to tell a repeat of the
//! problem (held back) from the same finding (a duplicate delivery, or the retry of a failed
//! publish, which re-claims with another conditional write). The rules are those of
//! [`crate::deliver::suppress`], and the same scenario tests both stores.
//!
//! Errors are [`StoreError`]s naming the call; the caller fails open.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use crate::BoxFuture;
use crate::deliver::suppress::{Claim, Claimed, Key, Mute, STALE_CLAIM, StoreError, SuppressionStore};

/// The partition of the mutes.
const MUTE_PARTITION: &str = "mute";
/// How long a problem's item outlives its window, for a late repeat's count to be reported.
const KEEP_AFTER_WINDOW: Duration = Duration::from_secs(86_400);

type Item = HashMap<String, AttributeValue>;

/// The suppression table; see the module docs.
#[derive(Debug, Clone)]
pub struct SuppressionTable {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

fn n(number: u64) -> AttributeValue {
    AttributeValue::N(number.to_string())
}

fn number(item: &Item, name: &str) -> u64 {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or_default()
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

fn millis(at: Duration) -> u64 {
    u64::try_from(at.as_millis()).unwrap_or(u64::MAX)
}

/// The key of a mute item: `FUNCTION#RULE`, `*` for every rule.
fn mute_sort_key(function: &str, rule: Option<&str>) -> String {
    format!("{function}#{}", rule.unwrap_or("*"))
}

impl SuppressionTable {
    /// The table `table` through `client`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// The table, with a client built from the process's SDK configuration
    /// ([`crate::aws::sdk_config`]): a hung attempt is abandoned and retried by the SDK, and the
    /// caller fails open. Makes no network call.
    pub fn from_config(config: &aws_config::SdkConfig, table: &str) -> Self {
        let client = aws_sdk_dynamodb::config::Builder::from(config)
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(2))
                    .operation_timeout(Duration::from_secs(5))
                    .build(),
            )
            .build();
        Self::new(aws_sdk_dynamodb::Client::from_conf(client), table)
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn error<E, R>(&self, operation: &'static str, error: SdkError<E, R>) -> StoreError
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        StoreError { table: self.table.clone(), operation, message: DisplayErrorContext(error).to_string() }
    }

    /// An `UpdateItem` of `key`'s item, with `#state` naming the `state` attribute.
    fn update(&self, key: &Key) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&key.partition))
            .key("sk", s(&key.sort))
            .expression_attribute_names("#state", "state")
    }

    /// The first claim of a window: wins when the item is absent or its window has passed.
    async fn claim_window(&self, claim: &Claim) -> Result<Option<Claimed>, StoreError> {
        let window_start = millis(claim.now.saturating_sub(claim.window));
        let result = self
            .update(&claim.key)
            .condition_expression("attribute_not_exists(finding_id) OR claimed_at <= :window_start")
            // The counts held back so far become the claimed finding's to report (every
            // operand reads the item as it was before this update).
            // Whether the key is new is decided from the item as it was: a condition cannot
            // both pick the winner and read the old sighting, so the winner reads it back
            // (ALL_OLD) and records the answer for its retries with a second, unconditional write.
            .update_expression(
                "SET carried_findings = if_not_exists(held_findings, :zero), \
                 carried_occurrences = if_not_exists(held_occurrences, :zero), \
                 held_findings = :zero, held_occurrences = :zero, \
                 finding_id = :id, #state = :sending, claimed_at = :now, expires_at = :expires, \
                 first_seen = if_not_exists(first_seen, :now), last_seen = :now \
                 ADD seen_count :occurrences",
            )
            .expression_attribute_values(":window_start", n(window_start))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":occurrences", n(claim.occurrences))
            .expression_attribute_values(":id", s(&claim.finding_id))
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":now", n(millis(claim.now)))
            .expression_attribute_values(":expires", n(expires_at(claim.now, claim.window)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => {
                let old = output.attributes.unwrap_or_default();
                let seen = number(&old, "last_seen").max(number(&old, "claimed_at"));
                let new = old.is_empty() || seen <= window_start;
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .key("pk", s(&claim.key.partition))
                    .key("sk", s(&claim.key.sort))
                    .update_expression("SET claimed_new = :new")
                    .expression_attribute_values(":new", AttributeValue::Bool(new))
                    .send()
                    .await
                    .map_err(|e| self.error("UpdateItem", e))?;
                Ok(Some(Claimed::Won {
                    held_findings: number(&old, "held_findings"),
                    held_occurrences: number(&old, "held_occurrences"),
                    new,
                }))
            }
            Err(error) if is_condition_failure(&error) => Ok(None),
            Err(error) => Err(self.error("UpdateItem", error)),
        }
    }

    /// After a lost window claim: a repeat (held), the same finding being or already sent
    /// (duplicate), or the same finding released or stale, which claims again.
    async fn claim_again(&self, claim: &Claim) -> Result<Claimed, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(&claim.key.partition))
            .key("sk", s(&claim.key.sort))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error("GetItem", e))?;
        let item = output.item.unwrap_or_default();
        if text(&item, "finding_id") != Some(claim.finding_id.as_str()) {
            return Ok(Claimed::Held);
        }
        let state = text(&item, "state").unwrap_or_default().to_owned();
        let claimed_at = number(&item, "claimed_at");
        let stale = claimed_at <= millis(claim.now.saturating_sub(STALE_CLAIM));
        if !(state == "released" || (state == "sending" && stale)) {
            return Ok(Claimed::Duplicate);
        }
        // Optimistic: only if nobody re-claimed it since we read it.
        let result = self
            .update(&claim.key)
            .condition_expression("finding_id = :id AND #state = :seen_state AND claimed_at = :seen_at")
            .update_expression("SET #state = :sending, claimed_at = :now")
            .expression_attribute_values(":id", s(&claim.finding_id))
            .expression_attribute_values(":seen_state", s(state))
            .expression_attribute_values(":seen_at", n(claimed_at))
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":now", n(millis(claim.now)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claimed::Won {
                held_findings: number(&item, "carried_findings"),
                held_occurrences: number(&item, "carried_occurrences"),
                new: item.get("claimed_new").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
            }),
            Err(error) if is_condition_failure(&error) => Ok(Claimed::Duplicate),
            Err(error) => Err(self.error("UpdateItem", error)),
        }
    }

    /// Sets the state of `finding_id`'s claim, if it is still the claimed finding.
    async fn set_state(&self, key: &Key, finding_id: &str, state: &str) -> Result<(), StoreError> {
        let result = self
            .update(key)
            .condition_expression("finding_id = :id")
            .update_expression("SET #state = :state")
            .expression_attribute_values(":id", s(finding_id))
            .expression_attribute_values(":state", s(state))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Another finding claimed the key since: nothing of ours to update.
            Err(error) if is_condition_failure(&error) => Ok(()),
            Err(error) => Err(self.error("UpdateItem", error)),
        }
    }

    /// Mutes a function (one rule, or all of them) until `mute.until`.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the table cannot be written.
    pub async fn put_mute(&self, mute: &Mute) -> Result<(), StoreError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(MUTE_PARTITION))
            .item("sk", s(mute_sort_key(&mute.function, mute.rule.as_deref())))
            .item("function", s(&mute.function))
            .item("until", n(mute.until))
            .item("created", n(mute.created))
            .item("expires_at", n(mute.until));
        if let Some(rule) = &mute.rule {
            request = request.item("rule", s(rule));
        }
        if let Some(reason) = &mute.reason {
            request = request.item("reason", s(reason));
        }
        request.send().await.map_err(|e| self.error("PutItem", e))?;
        Ok(())
    }

    /// Removes a mute; `Ok(false)` when there was none.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the table cannot be written.
    pub async fn delete_mute(&self, function: &str, rule: Option<&str>) -> Result<bool, StoreError> {
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(MUTE_PARTITION))
            .key("sk", s(mute_sort_key(function, rule)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| self.error("DeleteItem", e))?;
        Ok(output.attributes.is_some_and(|item| !item.is_empty()))
    }

    /// Every mute, or those of functions whose name starts with `prefix`, expired ones included.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the table cannot be read.
    pub async fn list_mutes(&self, prefix: &str) -> Result<Vec<Mute>, StoreError> {
        let mut mutes = Vec::new();
        let query = self.client.query().table_name(&self.table).consistent_read(true);
        // DynamoDB refuses an empty string as a value: no prefix, no begins_with.
        let query = if prefix.is_empty() {
            query.key_condition_expression("pk = :pk")
        } else {
            query
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", s(prefix))
        };
        let mut pages = query.expression_attribute_values(":pk", s(MUTE_PARTITION)).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error("Query", e))?;
            mutes.extend(page.items.unwrap_or_default().iter().filter_map(mute_of));
        }
        Ok(mutes)
    }
}

fn mute_of(item: &Item) -> Option<Mute> {
    Some(Mute {
        function: text(item, "function")?.to_owned(),
        rule: text(item, "rule").map(str::to_owned),
        until: number(item, "until"),
        reason: text(item, "reason").map(str::to_owned),
        created: number(item, "created"),
    })
}

/// When a problem's item may go: a day after its window.
fn expires_at(now: Duration, window: Duration) -> u64 {
    (now + window + KEEP_AFTER_WINDOW).as_secs()
}

fn is_condition_failure<R>(error: &SdkError<UpdateItemError, R>) -> bool {
    error.as_service_error().is_some_and(UpdateItemError::is_conditional_check_failed_exception)
}

impl SuppressionStore for SuppressionTable {
    fn claim<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, Result<Claimed, StoreError>> {
        Box::pin(async move {
            match self.claim_window(claim).await? {
                Some(claimed) => Ok(claimed),
                None => self.claim_again(claim).await,
            }
        })
    }

    fn sent<'a>(&'a self, key: &'a Key, finding_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.set_state(key, finding_id, "sent"))
    }

    fn release<'a>(&'a self, key: &'a Key, finding_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.set_state(key, finding_id, "released"))
    }

    fn hold<'a>(
        &'a self,
        key: &'a Key,
        occurrences: u64,
        now: Duration,
        window: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(&key.partition))
                .key("sk", s(&key.sort))
                .update_expression(
                    "ADD held_findings :one, held_occurrences :occurrences, seen_count :occurrences \
                     SET expires_at = :expires, last_seen = :now, first_seen = if_not_exists(first_seen, :now)",
                )
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":occurrences", n(occurrences))
                .expression_attribute_values(":now", n(millis(now)))
                .expression_attribute_values(":expires", n(expires_at(now, window)))
                .send()
                .await
                .map_err(|e| self.error("UpdateItem", e))?;
            Ok(())
        })
    }

    fn mutes<'a>(&'a self, functions: &'a [String]) -> BoxFuture<'a, Result<Vec<Mute>, StoreError>> {
        Box::pin(async move {
            let mut mutes = Vec::new();
            for function in functions {
                mutes.extend(self.list_mutes(&format!("{function}#")).await?);
            }
            Ok(mutes)
        })
    }
}
