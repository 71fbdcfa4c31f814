//! AWS partitions: which one a region is in, for every ARN the troubleshooter builds, and
//! where its console is, for every link it writes.
//!
//! A partition is a group of regions with its own accounts, ARN prefix and console: `aws`
//! (the commercial regions), `aws-cn` (China: `cn-north-1`, `cn-northwest-1`) and `aws-us-gov`
//! (GovCloud: `us-gov-west-1`, `us-gov-east-1`). An ARN or a console link of the wrong
//! partition names nothing the reader can open, so every one is built from [`partition`] and
//! [`console_origin`] of the finding's region.
//!
//! Sources: the partitions, <https://docs.aws.amazon.com/general/latest/gr/aws-arns-and-namespaces.html>,
//! <https://docs.amazonaws.cn/en_us/general/latest/gr/endpoints-arns.html> and
//! <https://docs.aws.amazon.com/govcloud-us/latest/UserGuide/using-govcloud-arns.html>. The
//! consoles: `https://REGION.console.aws.amazon.com`
//! (<https://docs.aws.amazon.com/general/latest/gr/mgmt-console.html>); GovCloud's single
//! `https://console.amazonaws-us-gov.com`, the region a parameter
//! (<https://docs.aws.amazon.com/govcloud-us/latest/UserGuide/configure-account.html> opens
//! `https://console.amazonaws-us-gov.com/iam`); China's on its own domain, `amazonaws.cn`
//! (<https://docs.amazonaws.cn/en_us/aws/latest/userguide/general-info.html>), written
//! `https://REGION.console.amazonaws.cn` like the commercial one, as CloudWatch links made for
//! the China regions write it (no AWS page found spells the regional China host out).

/// The partitions [`partition`] knows.
pub const PARTITIONS: &[&str] = &["aws", "aws-cn", "aws-us-gov"];

/// The ARN partition of `region`: `aws-cn` for the China regions, `aws-us-gov` for GovCloud,
/// `aws` for every other region (and for an unknown or empty one).
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The partition an ARN names (`arn:aws-cn:sts::…` → `aws-cn`), when it is one of
/// [`PARTITIONS`]: an ARN quoted in a log line says its partition better than a region
/// configured elsewhere (the command line's default region, for one).
pub fn arn_partition(arn: &str) -> Option<&'static str> {
    let named = arn.strip_prefix("arn:")?.split(':').next()?;
    PARTITIONS.iter().copied().find(|known| *known == named)
}

/// The scheme and host of the AWS console for `region`, without a trailing slash: append a
/// service path (`/cloudwatch/home?region=…`).
pub fn console_origin(region: &str) -> String {
    match partition(region) {
        "aws-cn" => format!("https://{region}.console.amazonaws.cn"),
        "aws-us-gov" => "https://console.amazonaws-us-gov.com".to_owned(),
        _ => format!("https://{region}.console.aws.amazon.com"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn china_and_govcloud_regions_have_their_own_partition_and_console() {
        for (region, arn, console) in [
            ("cn-north-1", "aws-cn", "https://cn-north-1.console.amazonaws.cn"),
            ("cn-northwest-1", "aws-cn", "https://cn-northwest-1.console.amazonaws.cn"),
            ("us-gov-west-1", "aws-us-gov", "https://console.amazonaws-us-gov.com"),
            ("us-gov-east-1", "aws-us-gov", "https://console.amazonaws-us-gov.com"),
            ("us-east-1", "aws", "https://us-east-1.console.aws.amazon.com"),
            ("eu-west-1", "aws", "https://eu-west-1.console.aws.amazon.com"),
            ("ap-southeast-5", "aws", "https://ap-southeast-5.console.aws.amazon.com"),
        ] {
            assert_eq!(partition(region), arn, "{region}");
            assert_eq!(console_origin(region), console, "{region}");
        }
    }

    #[test]
    fn an_arn_names_its_partition_when_it_is_a_known_one() {
        assert_eq!(arn_partition("arn:aws-cn:sts::123456789012:assumed-role/app/fn"), Some("aws-cn"));
        assert_eq!(arn_partition("arn:aws-us-gov:iam::123456789012:role/app"), Some("aws-us-gov"));
        assert_eq!(arn_partition("arn:aws:sts::123456789012:assumed-role/app/fn"), Some("aws"));
        for text in ["arn:aws-evil:iam::1:role/x", "app-role", "", "arn:", "aws-cn:sts::1:x"] {
            assert_eq!(arn_partition(text), None, "{text:?}");
        }
    }

    /// Near misses: only the `cn-` and `us-gov-` prefixes leave the commercial partition
    /// (`us-east-1` starts with `us-`, `ca-central-1` ends like `cn`, …).
    #[test]
    fn regions_that_only_look_like_china_or_govcloud_stay_in_aws() {
        for region in ["us-east-2", "ca-central-1", "ca-west-1", "us-west-1", "", "cn", "us-gov"] {
            assert_eq!(partition(region), "aws", "{region:?}");
        }
    }
}
