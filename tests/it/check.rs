//! `troubleshooter check` after a deploy, against the function under `cargo lambda watch`
//! publishing to moto's SNS: the check invokes the function through the Lambda Invoke API (as
//! it would the deployed one), the test finding reaches the topic, and the check says so; a
//! missing region is a usage error before any call.

use std::process::Command;

use crate::support::{LambdaWatch, MotoServer};

const TOPIC: &str = "deploy-check-findings";

fn check(envs: &[(&str, String)], args: &[&str]) -> (Option<i32>, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_troubleshooter"));
    command.arg("check").args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    for name in ["AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL_LAMBDA"] {
        command.env_remove(name);
    }
    for (name, value) in envs {
        command.env(name, value);
    }
    let out = command.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn check_sends_one_test_finding_through_the_function_and_its_topic() {
    let moto = MotoServer::start();
    let config = moto.sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&config);
    let topic = sns.create_topic().name(TOPIC).send().await.unwrap().topic_arn().unwrap().to_owned();
    let mut env = moto.aws_env();
    env.push(("TOPIC_ARN", topic.clone()));
    let watch = LambdaWatch::start(&env);

    // The command line reaches the function's Invoke API, as it would the deployed function's.
    let cli_env = [
        ("AWS_ENDPOINT_URL_LAMBDA", format!("http://127.0.0.1:{}", watch.port)),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
    ];
    let (code, stdout, stderr) = check(&cli_env, &["--function", "lambda-troubleshooter", "--region", "us-east-1"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}\n--- cargo lambda watch:\n{}", watch.log());
    assert!(stdout.contains("lambda-troubleshooter: the test finding was published"), "{stdout}");
    let published = moto.published(&topic);
    assert_eq!(published.len(), 1, "{published:?}");
    let (message, subject, _) = &published[0];
    assert!(message.contains("TroubleshooterDeployCheck"), "{message}");
    assert!(subject.as_deref().unwrap_or_default().contains("TroubleshooterDeployCheck"), "{subject:?}");

    // A second check is a new error type again, so it is published too (not held back).
    let (code, stdout, stderr) = check(&cli_env, &["--function", "lambda-troubleshooter", "--region", "us-east-1"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(moto.published(&topic).len(), 2);
}

#[test]
fn check_without_a_region_says_how_to_give_one() {
    // No profile file either: a developer's ~/.aws/config may name a region.
    let none = [("AWS_CONFIG_FILE", "/nonexistent/config".to_owned())];
    let (code, _, stderr) = check(&none, &["--function", "lambda-troubleshooter"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("troubleshooter: no AWS region: pass --region"), "{stderr}");
}
