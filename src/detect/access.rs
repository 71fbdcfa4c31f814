//! AccessDenied messages, parsed into who was denied what, by which policy, and the fix.
//!
//! IAM denials follow one grammar (the IAM User Guide's "Troubleshoot access denied error
//! messages", <https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html>):
//! `User: <principal> is not authorized to perform: <action>[ on resource: <resource>] <cause>`,
//! where the cause is `because no <type> allows the <action> action` (implicit deny) or `with an
//! explicit deny in a(n) <type>[: <policy ARN>]`. Every SDK wraps it differently (boto3, Go, Java), and the text may be
//! broken across lines, so whitespace is folded before parsing. The fix depends on the policy
//! type: an implicit identity-based deny is fixed with the exact IAM statement built here;
//! an explicit deny is fixed in the policy that denies, never by adding an Allow.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::{Value, json};

/// The detail names [`AccessDeniedParser::details`] can fill.
pub const DETAIL_NAMES: &[&str] = crate::model::details::ACCESS_DENIED;

/// The policy types IAM names in denials, longest first.
const POLICY_TYPES: &[&str] = &[
    "identity-based policy",
    "resource-based policy",
    "permissions boundary",
    "service control policy",
    "resource control policy",
    "session policy",
    "VPC endpoint policy",
];

/// Parses IAM denial messages; build once (it owns compiled regexes).
#[derive(Debug, Clone)]
pub struct AccessDeniedParser {
    /// The grammar and the policy ARN tail, compiled once on the first denial: most
    /// instances never see one, so init does not pay for them.
    patterns: OnceLock<Patterns>,
}

#[derive(Debug, Clone)]
struct Patterns {
    grammar: Regex,
    policy_arn: Regex,
}

impl Default for AccessDeniedParser {
    fn default() -> Self {
        Self::new()
    }
}

/// What a denial says, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Denial {
    /// The denied principal, e.g. `arn:aws:sts::123:assumed-role/role/session`.
    pub principal: String,
    /// The action, e.g. `secretsmanager:GetSecretValue`.
    pub action: String,
    /// The resource as the caller named it, when the message gives one.
    pub resource: Option<String>,
    /// True for "with an explicit deny".
    pub explicit: bool,
    /// The policy type named in the cause.
    pub policy_type: Option<String>,
    /// The denying policy's ARN, when the message ends with it.
    pub policy_arn: Option<String>,
}

impl Denial {
    /// The role name of an `assumed-role` or `role` principal.
    pub fn role(&self) -> Option<&str> {
        let (_, rest) = self.principal.split_once(":assumed-role/").or_else(|| self.principal.split_once(":role/"))?;
        rest.split('/').next().filter(|r| !r.is_empty())
    }

    /// The cause in words: "no identity-based policy allows it", "an explicit deny in a service
    /// control policy".
    pub fn denied_by(&self) -> String {
        let policy = self.policy_type.as_deref().unwrap_or("policy");
        if self.explicit {
            let article =
                if policy.starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U']) { "an" } else { "a" };
            format!("an explicit deny in {article} {policy}")
        } else {
            format!("no {policy} allows it")
        }
    }

    /// The partition of the denial's ARNs: the principal's own (`arn:aws-cn:sts::…`), else
    /// `region`'s.
    pub fn partition(&self, region: &str) -> &'static str {
        crate::model::arn_partition(&self.principal).unwrap_or_else(|| crate::model::partition(region))
    }

    /// The account in the principal's ARN.
    pub fn account(&self) -> Option<&str> {
        let account = self.principal.split(':').nth(4)?;
        (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
    }
}

impl AccessDeniedParser {
    /// A parser; its regexes are compiled on the first denial it parses.
    pub fn new() -> Self {
        Self { patterns: OnceLock::new() }
    }

    /// Parses a denial out of a message; `None` when the message does not follow the grammar.
    pub fn parse(&self, message: &str) -> Option<Denial> {
        let folded = message.split_whitespace().collect::<Vec<_>>().join(" ");
        let patterns = self.patterns.get_or_init(compile_patterns);
        let caps = patterns.grammar.captures(&folded)?;
        let cause = caps.name("cause").map_or("", |m| m.as_str());
        let cause_lower = cause.to_ascii_lowercase();
        let explicit = cause_lower.contains("explicit deny");
        let policy_type =
            POLICY_TYPES.iter().find(|t| cause_lower.contains(&t.to_ascii_lowercase())).map(|t| (*t).to_owned());
        let policy_arn = patterns
            .policy_arn
            .captures(cause)
            .and_then(|c| c.name("arn"))
            .map(|m| m.as_str().trim_end_matches(['.', ')', '"', '\'']).to_owned());
        let resource = caps
            .name("resource")
            .map(|m| m.as_str().trim_matches(['"', '\'', '.', ',', ')']).to_owned())
            .filter(|r| !r.is_empty());
        Some(Denial {
            principal: caps["principal"].trim_end_matches(['.', ',']).to_owned(),
            action: caps["action"].to_owned(),
            resource,
            explicit,
            policy_type,
            policy_arn,
        })
    }

    /// Parses `message` and returns the details a finding carries, fix included.
    /// `region` completes ARNs built from a bare secret name.
    pub fn details(&self, message: &str, region: &str) -> BTreeMap<String, Value> {
        let mut details = BTreeMap::new();
        let Some(denial) = self.parse(message) else {
            return details;
        };
        let mut put = |key: &str, value: Option<String>| {
            if let Some(value) = value {
                details.insert(key.to_owned(), Value::String(value));
            }
        };
        put("principal", Some(denial.principal.clone()));
        put("role", denial.role().map(str::to_owned));
        put("principal_account", denial.account().map(str::to_owned));
        if let (Some(role), Some(account)) = (denial.role(), denial.account()) {
            put("role_arn", Some(format!("arn:{}:iam::{account}:role/{role}", denial.partition(region))));
        }
        put("action", Some(denial.action.clone()));
        put("resource", denial.resource.clone());
        put("deny", Some(if denial.explicit { "explicit" } else { "implicit" }.to_owned()));
        put("policy_type", denial.policy_type.clone());
        put("policy_arn", denial.policy_arn.clone());
        put("denied_by", Some(denial.denied_by()));
        let needs_statement =
            !denial.explicit && matches!(denial.policy_type.as_deref(), None | Some("identity-based policy"));
        if needs_statement {
            let statement = allow_statement(&denial, region);
            put("iam_statement", Some(statement.to_string()));
            if let Some(role) = denial.role() {
                put("iam_command", Some(put_role_policy_command(role, &denial.action, &statement)));
            }
        } else {
            put("policy_fix", Some(policy_fix(&denial)));
        }
        details
    }
}

/// The denial grammar's regexes; see [`AccessDeniedParser`].
///
/// # Panics
///
/// Never: the patterns are constants, exercised by the tests below.
#[allow(clippy::expect_used)]
fn compile_patterns() -> Patterns {
    const GRAMMAR: &str = r"(?:User|Principal): (?P<principal>\S+) is not authorized to perform: (?P<action>[A-Za-z0-9-]+:[A-Za-z0-9*]+)(?: on resource: (?P<resource>\S+))?(?P<cause>.*)";
    Patterns {
        grammar: Regex::new(GRAMMAR).expect("constant regex"),
        policy_arn: Regex::new(r"(?:policy|boundary): (?P<arn>arn:[^\s,]+)").expect("constant regex"),
    }
}

/// The command that adds `statement` to the role as an inline policy named after the action.
fn put_role_policy_command(role: &str, action: &str, statement: &Value) -> String {
    let document = json!({"Version": "2012-10-17", "Statement": [statement]});
    let policy_name = format!("allow-{}", action.replace(':', "-").to_ascii_lowercase());
    format!("aws iam put-role-policy --role-name {role} --policy-name {policy_name} --policy-document '{document}'")
}

/// One Allow statement for one action denied on several resources: the statements the parser
/// wrote for each denial (`iam_statement` details, JSON), merged into one whose `Resource`
/// lists every resource in order of first appearance, with the command that adds it for
/// `role`. `None` when there is nothing to merge (fewer than two resources, or statements for
/// different actions).
pub fn merge_statements(statements: &[&str], role: Option<&str>) -> Option<(String, Option<String>)> {
    let mut action: Option<String> = None;
    let mut resources: Vec<Value> = Vec::new();
    for text in statements {
        let statement: Value = serde_json::from_str(text).ok()?;
        let this_action = statement.get("Action")?.as_str()?;
        if action.get_or_insert_with(|| this_action.to_owned()) != this_action {
            return None;
        }
        let resource = statement.get("Resource")?.clone();
        if !resources.contains(&resource) {
            resources.push(resource);
        }
    }
    let action = action?;
    if resources.len() < 2 {
        return None;
    }
    let statement = json!({"Effect": "Allow", "Action": action, "Resource": resources});
    let command = role.map(|role| put_role_policy_command(role, &action, &statement));
    Some((statement.to_string(), command))
}

/// The least-privilege Allow statement for the denied action on the denied resource.
fn allow_statement(denial: &Denial, region: &str) -> Value {
    let resource = match denial.resource.as_deref() {
        Some(arn) if arn.starts_with("arn:") => arn.to_owned(),
        // Secrets Manager accepts a bare name; its ARN ends in a dash and six random characters.
        Some(name) if denial.action.starts_with("secretsmanager:") => {
            let account = denial.account().unwrap_or("ACCOUNT_ID");
            format!("arn:{}:secretsmanager:{region}:{account}:secret:{name}-??????", denial.partition(region))
        }
        Some(name) => name.to_owned(),
        None => "ARN_OF_THE_RESOURCE".to_owned(),
    };
    json!({"Effect": "Allow", "Action": denial.action, "Resource": resource})
}

/// The fix for a deny that an Allow in the role's own policy cannot cure.
fn policy_fix(denial: &Denial) -> String {
    let action = &denial.action;
    let in_policy = denial.policy_arn.as_deref().map(|arn| format!(" ({arn})")).unwrap_or_default();
    let who = denial.role().map(|r| format!("the role {r}")).unwrap_or_else(|| denial.principal.clone());
    let resource = denial.resource.as_deref().unwrap_or("the resource");
    match (denial.explicit, denial.policy_type.as_deref().unwrap_or("")) {
        (true, "identity-based policy") => format!(
            "A policy attached to {who}{in_policy} explicitly denies {action}. An explicit deny overrides every Allow: remove or narrow that Deny statement."
        ),
        (_, "resource-based policy") => format!(
            "The resource policy of {resource}{in_policy} {} {action} for {who}. Edit the resource's own policy (for a secret: aws secretsmanager get-resource-policy / put-resource-policy) to allow this principal.",
            if denial.explicit { "explicitly denies" } else { "does not allow" }
        ),
        (_, "permissions boundary") => format!(
            "The permissions boundary of {who}{in_policy} {} {action}. Add the action to the boundary policy; an Allow in the role's own policy cannot exceed its boundary.",
            if denial.explicit { "explicitly denies" } else { "does not allow" }
        ),
        (_, "service control policy") | (_, "resource control policy") => format!(
            "An AWS Organizations {}{in_policy} blocks {action} in this account. Nothing in the account can override it: ask your organization's administrators to exempt {who} or this action.",
            denial.policy_type.as_deref().unwrap_or("policy")
        ),
        (_, "session policy") => format!(
            "The session policy passed when {who} was assumed {} {action}. Change the policy passed to AssumeRole (or the federation call) to allow it.",
            if denial.explicit { "explicitly denies" } else { "does not allow" }
        ),
        (_, "VPC endpoint policy") => format!(
            "The VPC endpoint policy of the service's interface endpoint {} {action}. Allow it in the endpoint's policy (aws ec2 modify-vpc-endpoint --policy-document).",
            if denial.explicit { "explicitly denies" } else { "does not allow" }
        ),
        _ => format!(
            "A policy explicitly denies {action} to {who}{in_policy}: find the Deny statement with the IAM policy simulator and narrow it."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(message: &str) -> Denial {
        AccessDeniedParser::new().parse(message).unwrap_or_else(|| panic!("no denial in {message}"))
    }

    #[test]
    fn boto3_secret_denial_from_log_formats() {
        let d = parse(
            "An error occurred (AccessDeniedException) when calling the GetSecretValue operation: User: arn:aws:sts::273488500123:assumed-role/ppdusrdevpricefileextrac/ppd-dev-get-pricefilesdetails is not authorized to perform: secretsmanager:GetSecretValue on resource: ppd-dev-pricefile-modernization because no identity-based policy allows the secretsmanager:GetSecretValue action",
        );
        assert_eq!(d.role(), Some("ppdusrdevpricefileextrac"));
        assert_eq!(d.account(), Some("273488500123"));
        assert_eq!(d.action, "secretsmanager:GetSecretValue");
        assert_eq!(d.resource.as_deref(), Some("ppd-dev-pricefile-modernization"));
        assert!(!d.explicit);
        assert_eq!(d.policy_type.as_deref(), Some("identity-based policy"));
    }

    #[test]
    fn go_wrapper_and_line_break_inside_the_cause() {
        let d = parse(
            "AccessDeniedException: User: arn:aws:sts::1234567890:assumed-role/ecsTaskExecutionRole/365abd is not authorized to perform: secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:ap-northeast-2:1234567890:secret:rds!cluster-1 because no identity-based policy allows the secretsmanager:GetSecretValue action status code: 400, request id: 9ce8d0e9-1",
        );
        assert_eq!(
            d.resource.as_deref(),
            Some("arn:aws:secretsmanager:ap-northeast-2:1234567890:secret:rds!cluster-1")
        );
        assert_eq!(d.account(), None, "ten digits is not an account id");
        let d = parse(
            "User: arn:aws:sts::123456789012:assumed-role/python-memory-FunctionRole-1B6GH25FAONJ3/python-memory-Function-mQamETBP6j7L is not authorized to perform: secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:us-west-2:123456789012:secret:appflow-Qdj0Lu because no identity-based\n policy allows the secretsmanager:GetSecretValue action",
        );
        assert_eq!(d.policy_type.as_deref(), Some("identity-based policy"));
        assert_eq!(d.role(), Some("python-memory-FunctionRole-1B6GH25FAONJ3"));
    }

    #[test]
    fn explicit_deny_with_policy_arn_tail_and_no_resource() {
        let d = parse(
            "User: arn:aws:sts::705927066274:assumed-role/app/fn is not authorized to perform: secretsmanager:GetSecretValue with an explicit deny in a service control policy: arn:aws:organizations::705927066274:policy/o-ysrrabz20z/service_control_policy/p-ddxnpgbm",
        );
        assert!(d.explicit);
        assert_eq!(d.resource, None);
        assert_eq!(d.policy_type.as_deref(), Some("service control policy"));
        assert_eq!(
            d.policy_arn.as_deref(),
            Some("arn:aws:organizations::705927066274:policy/o-ysrrabz20z/service_control_policy/p-ddxnpgbm")
        );
    }

    #[test]
    fn implicit_identity_deny_gets_the_exact_statement_for_the_role() {
        let details = AccessDeniedParser::new().details(
            "User: arn:aws:sts::273488500123:assumed-role/app-role/fn is not authorized to perform: secretsmanager:GetSecretValue on resource: db-creds because no identity-based policy allows the secretsmanager:GetSecretValue action",
            "eu-west-1",
        );
        assert_eq!(details["role"], "app-role");
        assert_eq!(
            details["iam_statement"],
            r#"{"Action":"secretsmanager:GetSecretValue","Effect":"Allow","Resource":"arn:aws:secretsmanager:eu-west-1:273488500123:secret:db-creds-??????"}"#
        );
        assert!(details["iam_command"].as_str().unwrap().starts_with("aws iam put-role-policy --role-name app-role "));
        assert!(!details.contains_key("policy_fix"));
    }

    /// China and GovCloud ARNs carry their partition: an `arn:aws:` statement there is
    /// refused as malformed. The principal's own ARN wins over a region set elsewhere (the
    /// command line's default us-east-1).
    #[test]
    fn the_role_and_the_statement_are_in_the_partition_of_the_denial() {
        let message = |partition: &str| {
            format!(
                "User: arn:{partition}:sts::273488500123:assumed-role/app-role/fn is not authorized to perform: secretsmanager:GetSecretValue on resource: db-creds because no identity-based policy allows the secretsmanager:GetSecretValue action"
            )
        };
        let parser = AccessDeniedParser::new();
        for (partition, region) in [("aws-cn", "cn-north-1"), ("aws-us-gov", "us-gov-west-1"), ("aws", "eu-west-1")] {
            let details = parser.details(&message(partition), region);
            assert_eq!(details["role_arn"], format!("arn:{partition}:iam::273488500123:role/app-role"));
            let statement: Value = serde_json::from_str(details["iam_statement"].as_str().unwrap()).unwrap();
            assert_eq!(
                statement["Resource"],
                format!("arn:{partition}:secretsmanager:{region}:273488500123:secret:db-creds-??????")
            );
        }
        let details = parser.details(&message("aws-cn"), "us-east-1");
        assert_eq!(details["role_arn"], "arn:aws-cn:iam::273488500123:role/app-role");
        // A principal that is no ARN leaves the region to say it.
        let bare = "User: app-role is not authorized to perform: secretsmanager:GetSecretValue on resource: db-creds because no identity-based policy allows the secretsmanager:GetSecretValue action";
        let statement: Value =
            serde_json::from_str(parser.details(bare, "cn-northwest-1")["iam_statement"].as_str().unwrap()).unwrap();
        assert_eq!(statement["Resource"], "arn:aws-cn:secretsmanager:cn-northwest-1:ACCOUNT_ID:secret:db-creds-??????");
    }

    #[test]
    fn explicit_and_boundary_denies_get_the_policy_fix_instead() {
        let parser = AccessDeniedParser::new();
        let scp = parser.details("User: arn:aws:sts::705927066274:assumed-role/app/fn is not authorized to perform: secretsmanager:GetSecretValue with an explicit deny in a service control policy", "us-east-1");
        assert!(!scp.contains_key("iam_statement"));
        assert!(scp["policy_fix"].as_str().unwrap().contains("Organizations"));
        let boundary = parser.details("User: arn:aws:sts::705927066274:assumed-role/app/fn is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::b/k because no permissions boundary allows the s3:GetObject action", "us-east-1");
        assert!(boundary["policy_fix"].as_str().unwrap().contains("boundary"));
        let resource = parser.details("User: arn:aws:sts::705927066274:assumed-role/app/fn is not authorized to perform: secretsmanager:GetSecretValue on resource: s with an explicit deny in a resource-based policy", "us-east-1");
        assert!(resource["policy_fix"].as_str().unwrap().contains("resource policy of s"));
    }

    #[test]
    fn messages_outside_the_grammar_give_nothing() {
        let parser = AccessDeniedParser::new();
        assert!(parser.parse("Access to KMS is not allowed").is_none());
        assert!(parser.parse("INFO checking whether the user is not authorized to perform anything").is_none());
        assert!(parser.details("plain text", "us-east-1").is_empty());
    }
}
