use super::stack::frames;
use super::*;

fn signal(message: &str) -> ErrorSignal {
    extract(message).unwrap_or_else(|| panic!("no error in {message:?}"))
}

#[test]
fn every_runtime_shape_gives_its_type_message_and_kind() {
    // (message, kind, type, message starts with)
    #[rustfmt::skip]
    let table: &[(&str, ErrorKind, Option<&str>, &str)] = &[
        // Node.js, text format: Invoke Error, Uncaught Exception, Unhandled Promise Rejection.
        ("2026-12-01T10:00:01.000Z\t9a5c2a10-2222-4c2e-9b1a-0a1b2c3d4e5f\tERROR\tInvoke Error \t{\"errorType\":\"TypeError\",\"errorMessage\":\"Cannot read properties of undefined (reading 'id')\",\"stack\":[\"TypeError: x\",\"    at Runtime.handler (/var/task/index.js:5:20)\"]}",
         ErrorKind::Failure, Some("TypeError"), "Cannot read properties"),
        ("2026-12-01T10:00:01.000Z\tundefined\tERROR\tUncaught Exception \t{\"errorType\":\"Error\",\"errorMessage\":\"boom\",\"stack\":[\"Error: boom\"]}",
         ErrorKind::Failure, Some("Error"), "boom"),
        ("2026-12-01T10:00:01.000Z\tabc-1234-5678\tERROR\tUnhandled Promise Rejection \t{\"errorType\":\"Runtime.UnhandledPromiseRejection\",\"errorMessage\":\"Error: db down\",\"reason\":{}}",
         ErrorKind::Failure, Some("Runtime.UnhandledPromiseRejection"), "Error: db down"),
        // Python: the runtime's own line, a logged one, the error document, the JSON format.
        ("[ERROR] ValueError: invalid literal for int() with base 10: 'abc'\nTraceback (most recent call last):\n  File \"/var/task/app.py\", line 8, in handler\n    int(x)",
         ErrorKind::Failure, Some("ValueError"), "invalid literal"),
        ("[ERROR]\t2026-12-01T10:00:00.123Z\t8f5c2a10-1111-4c2e-9b1a-0a1b2c3d4e5f\tKeyError: 'sku'",
         ErrorKind::Logged, Some("KeyError"), "'sku'"),
        ("{\"errorMessage\": \"'NoneType' object is not subscriptable\", \"errorType\": \"TypeError\", \"requestId\": \"3c5c\", \"stackTrace\": [\"  File \\\"/var/task/app.py\\\", line 8, in handler\\n\"]}",
         ErrorKind::Failure, Some("TypeError"), "'NoneType'"),
        ("{\"timestamp\":\"2026-12-01T10:00:00Z\",\"log_level\":\"ERROR\",\"errorMessage\":\"boom\",\"errorType\":\"RuntimeError\",\"requestId\":\"r-1\",\"stackTrace\":[]}",
         ErrorKind::Failure, Some("RuntimeError"), "boom"),
        // Java, .NET, Go, Rust, Ruby.
        ("Exception in thread \"main\" java.lang.IllegalStateException: no table\n\tat com.acme.Handler.handleRequest(Handler.java:42)",
         ErrorKind::Failure, Some("java.lang.IllegalStateException"), "no table"),
        ("Unhandled exception. System.InvalidOperationException: Sequence contains no elements\n   at Orders.Function.Handler(String input) in /src/Function.cs:line 17",
         ErrorKind::Failure, Some("System.InvalidOperationException"), "Sequence"),
        ("panic: assignment to entry in nil map\n\ngoroutine 1 [running]:\nmain.handler(...)\n\t/var/task/main.go:12 +0x1d",
         ErrorKind::Failure, Some("panic"), "assignment"),
        ("{\"errorMessage\":\"undefined method `[]' for nil:NilClass\",\"errorType\":\"Function<NoMethodError>\",\"stackTrace\":[\"/var/task/app.rb:5:in `handler'\"]}",
         ErrorKind::Failure, Some("Function<NoMethodError>"), "undefined method"),
        ("/var/task/app.rb:9:in `handler': boom (RuntimeError)\n\tfrom /var/runtime/lib/runtime.rb:12:in `run'",
         ErrorKind::Logged, Some("RuntimeError"), "boom"),
        // Java's runtime prints `message: type` above the type and its stack.
        ("Cannot invoke \"String.length()\" because \"s\" is null: java.lang.NullPointerException\njava.lang.NullPointerException: Cannot invoke\n\tat com.acme.Handler.handleRequest(Handler.java:9)",
         ErrorKind::Logged, Some("java.lang.NullPointerException"), "Cannot invoke"),
        // Structured loggers at ERROR with an exception.
        ("{\"level\":\"ERROR\",\"message\":\"could not price\",\"exception\":\"Traceback (most recent call last):\\n  File \\\"/var/task/app.py\\\", line 9, in handler\\nKeyError: 'sku'\",\"exception_name\":\"KeyError\"}",
         ErrorKind::Logged, Some("KeyError"), "'sku'"),
        ("{\"level\":50,\"msg\":\"payment failed\",\"err\":{\"type\":\"Error\",\"message\":\"card declined\",\"stack\":\"Error: card declined\\n    at charge (/var/task/pay.js:12:11)\"}}",
         ErrorKind::Logged, Some("Error"), "card declined"),
        ("{\"level\":\"ERROR\",\"loggerName\":\"com.acme.Handler\",\"message\":\"save failed\",\"thrown\":{\"name\":\"java.sql.SQLException\",\"message\":\"deadlock\"}}",
         ErrorKind::Logged, Some("java.sql.SQLException"), "deadlock"),
        // Node.js console.error(err) in the text format.
        ("2026-12-01T10:00:01.000Z\t9a5c2a10-2222-4c2e-9b1a-0a1b2c3d4e5f\tERROR\tTypeError: x is not a function\n    at handler (/var/task/index.js:3:9)",
         ErrorKind::Logged, Some("TypeError"), "x is not a function"),
    ];
    for (message, kind, error_type, starts) in table {
        let found = signal(message);
        assert_eq!(found.kind, *kind, "{message}");
        assert_eq!(found.report.error_type.as_deref(), *error_type, "{message}");
        let text = found.report.message.unwrap_or_default();
        assert!(text.starts_with(starts), "{message}: message {text:?}");
    }
}

#[test]
fn near_misses_report_no_error() {
    for quiet in [
        "2026-12-01T10:00:01.000Z\t9a5c2a10-2222-4c2e-9b1a-0a1b2c3d4e5f\tINFO\tretrying after TypeError: fetch failed",
        "[WARNING]\t2026-12-01T10:00:00.123Z\t8f5c2a10-1111-4c2e-9b1a-0a1b2c3d4e5f\tKeyError: 'sku' (using the default)",
        "{\"level\":\"INFO\",\"message\":\"order placed\",\"error\":null,\"errors\":[]}",
        "{\"level\":\"WARN\",\"message\":\"retrying\",\"exception\":\"Traceback (most recent call last):\\nKeyError: 'sku'\"}",
        "{\"level\":30,\"msg\":\"payment ok\",\"err\":null}",
        "{\"level\":\"ERROR\",\"message\":\"payment provider slow, falling back\"}",
        "2026-12-01T10:00:01.000Z\t9a5c2a10-2222-4c2e-9b1a-0a1b2c3d4e5f\tERROR\tpayment provider slow, falling back",
        "{\"time\":\"2026-12-01T10:00:00Z\",\"type\":\"platform.runtimeDone\",\"record\":{\"requestId\":\"r\",\"status\":\"error\",\"errorType\":\"Runtime.Unknown\"}}",
        "ErrorHandlerMiddleware registered",
        "Tests: 12 passed, 0 failed; errors: 0",
        "CloudFormation stack orders-api updated",
    ] {
        assert_eq!(extract(quiet), None, "{quiet}");
    }
}

#[test]
fn frames_are_read_innermost_first_and_marked_in_app() {
    let node = frames(
        "TypeError: x\n    at handler (/var/task/index.js:5:20)\n    at Runtime.handleOnce (file:///var/runtime/index.mjs:1:1)",
    );
    assert_eq!(node[0], Frame { function: "handler".into(), file: "index.js".into(), in_app: true });
    assert!(!node[1].in_app);
    // Python prints the innermost frame last.
    let python = frames(
        "Traceback (most recent call last):\n  File \"/var/runtime/bootstrap.py\", line 1, in run\n  File \"/var/task/app.py\", line 8, in handler\n  File \"/opt/python/requests/api.py\", line 3, in get",
    );
    assert_eq!(python.iter().map(|f| f.in_app).collect::<Vec<_>>(), [false, true, false]);
    assert_eq!(top_in_app_frame(&python).map(ToString::to_string).as_deref(), Some("handler (app.py)"));
    let java = frames(
        "java.lang.X: y\n\tat java.util.HashMap.put(HashMap.java:1)\n\tat com.acme.Orders.place(Orders.java:42)",
    );
    assert_eq!(top_in_app_frame(&java).map(|f| f.function.as_str()), Some("com.acme.Orders.place"));
    let dotnet = frames("   at Orders.Function.Handler(String input) in /src/Function.cs:line 17");
    assert_eq!(dotnet[0].file, "/src/Function.cs");
    let go = frames("goroutine 1 [running]:\nmain.handler(0x1)\n\t/var/task/main.go:12 +0x1d");
    assert_eq!(go.last().map(|f| (f.function.as_str(), f.file.as_str())), Some(("main.handler", "main.go")));
}

/// Real pairs of one bug with other ids and values, and of two bugs: the fingerprint tells
/// them apart.
#[test]
fn one_bug_one_fingerprint_two_bugs_two() {
    let of = |message: &str| {
        let found = signal(message);
        let report = found.report;
        fingerprint("orders-api", report.error_type.as_deref(), report.message.as_deref(), &report.frames)
    };
    let same: &[(&str, &str)] = &[
        // A stack: the in-app frames group it, whatever the message says.
        (
            "2026-12-01T10:00:01.000Z\tid-1111-aaaa\tERROR\tInvoke Error \t{\"errorType\":\"TypeError\",\"errorMessage\":\"Cannot read properties of undefined (reading 'id')\",\"stack\":[\"TypeError: x\",\"    at Runtime.handler (/var/task/index.js:5:20)\"]}",
            "2026-12-01T11:00:01.000Z\tid-2222-bbbb\tERROR\tInvoke Error \t{\"errorType\":\"TypeError\",\"errorMessage\":\"Cannot read properties of undefined (reading 'sku')\",\"stack\":[\"TypeError: x\",\"    at Runtime.handler (/var/task/index.js:7:3)\"]}",
        ),
        // No stack: the masked message, with ids, numbers, quoted values, ARNs and times masked.
        (
            "[ERROR] OrderNotFound: order 81723 of customer 'acme' not found in arn:aws:dynamodb:us-east-1:123456789012:table/orders-1 at 2026-12-01T10:00:00Z (request 8f5c2a10-1111-4c2e-9b1a-0a1b2c3d4e5f)",
            "[ERROR] OrderNotFound: order 5 of customer 'globex' not found in arn:aws:dynamodb:eu-west-1:210987654321:table/orders-2 at 2026-12-02T11:30:00Z (request 0b1c2a10-9999-4c2e-9b1a-0a1b2c3d4e5f)",
        ),
        (
            "[ERROR] ConnectionError: cannot reach 10.0.3.7:5432 for user ops@example.com, session 0x7ffd3a9c",
            "[ERROR] ConnectionError: cannot reach 10.0.9.1:5433 for user dev@example.org, session 0x55aa10ff",
        ),
    ];
    for (a, b) in same {
        assert_eq!(of(a), of(b), "one bug:\n{a}\n{b}");
    }
    let different: &[(&str, &str)] = &[
        // Another type, another frame, another message.
        ("[ERROR] KeyError: 'sku'", "[ERROR] ValueError: 'sku'"),
        (
            "2026-12-01T10:00:01.000Z\tid-1111-aaaa\tERROR\tTypeError: x\n    at handler (/var/task/index.js:5:20)",
            "2026-12-01T10:00:01.000Z\tid-1111-aaaa\tERROR\tTypeError: x\n    at save (/var/task/db.js:5:20)",
        ),
        ("[ERROR] OrderNotFound: order 1 not found", "[ERROR] OrderNotFound: order 1 was cancelled"),
    ];
    for (a, b) in different {
        assert_ne!(of(a), of(b), "two bugs:\n{a}\n{b}");
    }
}

#[test]
fn masking_keeps_the_words_and_hides_the_values() {
    assert_eq!(
        mask("Cannot read properties of undefined (reading 'id')"),
        "Cannot read properties of undefined (reading <*>)"
    );
    assert_eq!(
        title(Some("TypeError"), Some("Cannot read properties of undefined (reading 'id')")).as_deref(),
        Some("TypeError: Cannot read properties of undefined (reading <*>)")
    );
    assert_eq!(
        mask("User arn:aws:sts::123456789012:assumed-role/x/y denied on i-0abc12345def67890"),
        "User arn:aws:sts:<*> denied on <*>"
    );
    assert_eq!(mask("facade deadbeef 0xdeadbeef"), "facade deadbeef <*>");
    assert_eq!(title(None, None), None);
    let long = "x".repeat(1000);
    assert!(title(Some("E"), Some(&long)).is_some_and(|t| t.chars().count() < 130));
}

#[test]
fn hostile_messages_stay_linear_and_never_panic() {
    for message in [
        String::new(),
        "{".repeat(10_000),
        "[ERROR] ".repeat(10_000),
        format!("[ERROR] E: {}", "at (".repeat(20_000)),
        format!("{{\"errorType\":\"{}", "\\".repeat(20_000)),
        format!("Traceback (most recent call last):\n{}", "  File \"a\", line 1, in f\n".repeat(5_000)),
        "\u{feff}\u{0}\t\n".repeat(1000),
    ] {
        let _ = extract(&message);
        let _ = failure_statement(&message);
        let _ = mask(&message);
    }
}

#[test]
fn an_error_printed_at_info_or_as_a_plain_sentence_is_logged_unless_it_went_on() {
    // Node.js's console.log(error): the error's own `Error: …` at INFO (shelfio/libreoffice-lambda-layer#36).
    let printed = "2021-03-24T23:47:13.368Z\ta797942e-b387-4f31-94da-bd85b3c2408c\tINFO\tError: Command failed: export HOME=/tmp && /tmp/lo/instdir/program/soffice.bin --headless --convert-to pdf /tmp/c.docx --outdir /tmp";
    let signal = signal(printed);
    assert_eq!((signal.kind, signal.report.error_type.as_deref()), (ErrorKind::Logged, Some("Error")));
    // A plain print that opens with the failure and names its error (sailyapp/aws-s3-lambda-thumbnail-generator#6).
    let sentence = "Unable to generate thumbnail for 'test-bucket/file9241312063946.jpg' due to error: Error: Stream yields empty buffer";
    let said = failure_statement(sentence).expect("a failure sentence");
    assert_eq!(said.kind, ErrorKind::Logged);
    assert!(said.report.message.is_some_and(|m| m.starts_with("Unable to generate thumbnail")));
    // Near misses: the application says it handled the error or went on; a business outcome
    // without an error (a quiet line of the error corpus); a count; a line with a level.
    for quiet in [
        "2022-12-31T15:36:08.905Z\t09582a88-eb2d-4805-9237-bb34220d2670\tINFO\tError handled: AskSdk.RequestEnvelopeUtils Error: Expecting request type of IntentRequest but got LaunchRequest.",
        "2024-01-01T00:00:00.000Z\t09582a88-eb2d-4805-9237-bb34220d2670\tINFO\tError: cache miss, falling back to the database",
        "2024-01-01T00:00:00.000Z\t09582a88-eb2d-4805-9237-bb34220d2670\tDEBUG\tError: connection reset by peer",
    ] {
        assert_eq!(extract(quiet).map(|s| s.kind), None, "{quiet}");
    }
    for quiet in [
        "Failed to invite user U05Q61TVBDZ to channel C06FTDX1LG4: channel_not_found",
        "Failed: 0 errors in 12 records",
        "Could not read the optional config file, using defaults (error: ENOENT)",
        "[INFO] Unable to reach the cache: connection error",
    ] {
        assert!(failure_statement(quiet).is_none(), "{quiet}");
    }
}

#[test]
fn the_sdks_error_sentence_and_a_labelled_type_name_the_error() {
    // The AWS CLI's words for an error it did not handle (petrabarus/s3-object-lambda-debug).
    let cli = "An error occurred (LambdaRuntimeError) when calling the GetObject operation (reached max retries: 4): Lambda function failed during execution.";
    let sdk = signal(cli);
    assert_eq!(sdk.report.error_type.as_deref(), Some("LambdaRuntimeError"));
    assert_eq!(sdk.report.message.as_deref(), Some("Lambda function failed during execution."));
    // A short label before the type (reconbot/graphql-lambda-subscriptions#313).
    let labelled = signal("Reason: TypeError: Cannot read property 'definitions' of undefined");
    assert_eq!(labelled.report.error_type.as_deref(), Some("TypeError"));
    // Python's repr of an exception (cozyberries/telegram-bot LAMBDA_FIX.md).
    let repr = signal("RuntimeError('Event loop is closed')");
    assert_eq!(repr.report.error_type.as_deref(), Some("RuntimeError"));
    assert_eq!(repr.report.message.as_deref(), Some("Event loop is closed"));
    // `aws logs tail` puts the log stream before the runtime's line: its level is still read.
    let tailed = "2026-02-28T16:32:48.721000+00:00 2026/02/28/[$LATEST]537ae4b7f73f4df4829ec4f11365db97 2026-02-28T16:32:48.721Z\tb3dc2441-808b-47c6-aeb6-5fb62c32cc95\tERROR\tGlobal Lambda Error: TypeError: input.once is not a function";
    assert_eq!(stated_level(tailed), Some(StatedLevel::Error));
    assert_eq!(signal(tailed).report.request_id.as_deref(), Some("b3dc2441-808b-47c6-aeb6-5fb62c32cc95"));
    // Near misses: a print of a caught SDK error (a quiet line of the error corpus), a long
    // sentence before a colon, a setting.
    for quiet in [
        "Error: An error occurred (ValidationException) when calling the Converse operation: Invocation of model ID amazon.nova-micro-v1:0 with on-demand throughput isn't supported.",
        "The request was sent to the endpoint configured in settings: TypeError handling is on",
        "on_error: ValueError",
    ] {
        assert_eq!(extract(quiet).map(|s| s.report.error_type), None, "{quiet}");
    }
}

#[test]
fn a_response_that_says_it_failed_names_its_error() {
    // rsusny-wq/infinitra-dixon-chatbot lambda_response.json
    let failed = "{\"success\": false, \"error\": \"Unknown operation: None\", \"conversationId\": \"\", \"message\": \"Error: Unknown operation None\"}";
    assert_eq!(signal(failed).report.message.as_deref(), Some("Unknown operation: None"));
    for quiet in [
        "{\"success\": true, \"error\": \"\", \"message\": \"done\"}",
        "{\"success\": false, \"error\": \"\"}",
        "{\"level\": \"info\", \"success\": false, \"error\": \"cache miss\"}",
    ] {
        assert_eq!(extract(quiet), None, "{quiet}");
    }
}

#[test]
fn a_message_before_its_type_a_logger_level_inside_info_and_php_uncaught_errors_are_read() {
    // The message, then its type, as Lambda's console and alarm notifications render a failure
    // (terraform-aws-modules/terraform-aws-notify-slack#13, brianwarehime/nights_watch#2).
    for (line, error_type) in [
        ("Expecting value: line 1 column 1 (char 0): JSONDecodeError", "JSONDecodeError"),
        ("'accessKeyDetails': KeyError", "KeyError"),
    ] {
        let said = failure_statement(line).expect(line);
        assert_eq!((said.kind, said.report.error_type.as_deref()), (ErrorKind::Logged, Some(error_type)), "{line}");
    }
    // An application logger's ERROR inside console.log's INFO (djfdyuruiry/ts-lambda-api#23).
    let inner = "2019-07-02T20:52:43.016Z\t52fdfc07-2182-154f-163f-5f0f9a621d72\tINFO\tERROR NodeMasterController - Error retrieving node master status.";
    assert_eq!(stated_level(inner), Some(StatedLevel::Error));
    assert_eq!(extract(inner).map(|s| s.kind), Some(ErrorKind::Logged));
    // The runtime's line copied with spaces for its tabs (baselime/docs, the Lambda logs page).
    let spaced = " 2021-12-26T14:00:19.258Z e578aebe-054e-4844-835c-66a75d3112cf ERROR Error doing something.";
    assert_eq!(extract(spaced).map(|s| s.kind), Some(ErrorKind::Logged));
    // Node.js before 15 printed an unhandled rejection as a warning (blind batch 25,
    // amazon-archives/amazon-quicksight-embedding-sample#3).
    let rejection = "2019-02-21T16:57:20.679Z\t430b1cf7-15a2-4f58-a6e3-c1ec25f00e92\t(node:1) UnhandledPromiseRejectionWarning: ReferenceError: alert is not defined";
    assert_eq!(signal(rejection).report.error_type.as_deref(), Some("ReferenceError"));
    // PHP names the uncaught exception after `Uncaught` (blind batch 7, a Laravel app).
    let php = "PHP Fatal error: Uncaught UnexpectedValueException: The stream or file \"/var/www/seat/storage/logs/laravel-2017-03-27.log\" could not be opened: failed to open stream: Read-only file system in /var/www/seat/bootstrap/cache/compiled.php:14181";
    assert_eq!(signal(php).report.error_type.as_deref(), Some("UnexpectedValueException"));
    // Near misses: a setting named like an error, a retry that went on, a lower-case word after
    // INFO, a logger's INFO with no error level of its own.
    for quiet in
        ["on_error: ValueError", "Retrying the upload after: ThrottlingException", "handler_error_type: TimeoutError"]
    {
        assert!(failure_statement(quiet).is_none(), "{quiet}");
    }
    for quiet in [
        "2019-07-02T20:52:43.016Z\t52fdfc07-2182-154f-163f-5f0f9a621d72\tINFO\terror count is 0",
        "2019-07-02T20:52:43.016Z\t52fdfc07-2182-154f-163f-5f0f9a621d72\tINFO\tINFO NodeMasterController - node master status retrieved",
    ] {
        assert_ne!(stated_level(quiet), Some(StatedLevel::Error), "{quiet}");
        assert_eq!(extract(quiet).map(|s| s.kind), None, "{quiet}");
    }
}

#[test]
fn a_structured_line_at_error_and_dotnets_fail_level_are_logged_errors_in_their_own_words() {
    // A JSON logger at ERROR without an exception field says what failed in its message and its
    // error field, as the same line in text does (logrus, zap, zerolog, pino, Powertools).
    let json = "{\"level\":\"error\",\"msg\":\"failed to process message\",\"error\":\"unexpected end of JSON input\",\"time\":\"2024-01-15T10:30:00Z\",\"request_id\":\"r-9\"}";
    let said = signal(json);
    assert_eq!(said.kind, ErrorKind::Logged);
    assert_eq!(said.report.message.as_deref(), Some("failed to process message: unexpected end of JSON input"));
    assert_eq!(said.report.request_id.as_deref(), Some("r-9"));
    let powertools = "{\"level\":\"ERROR\",\"location\":\"handler:25\",\"message\":\"Order 42 could not be charged\",\"service\":\"orders\"}";
    assert_eq!(signal(powertools).report.message.as_deref(), Some("Order 42 could not be charged"));
    // zerolog (tcotav/gin-zerolog-demo README.md): the error field is the message.
    let zerolog = "{\"level\":\"error\",\"error\":\"this is an error\",\"App\":\"logtest\",\"Call\":\"TimeSomething\",\"time\":\"2023-10-17T15:44:41-07:00\",\"message\":\"error\"}";
    assert_eq!(signal(zerolog).report.message.as_deref(), Some("error: this is an error"));
    // .NET's console logger writes Error as `fail:` before its category and event id
    // (dotnet/aspnetcore#31142), Critical as `crit:`.
    for dotnet in [
        "fail: Orders.Function[0] Unhandled exception while processing order 42",
        "fail: Microsoft.AspNetCore.Diagnostics.ExceptionHandlerMiddleware[1]",
        "crit: Microsoft.AspNetCore.Server.Kestrel[0]",
    ] {
        assert_eq!(signal(dotnet).kind, ErrorKind::Logged, "{dotnet}");
    }
    // Near misses: a level below ERROR, a line that went on, too few words to say anything, a
    // `fail:` that is no logger's category, an error field at INFO.
    for quiet in [
        "{\"level\":\"info\",\"msg\":\"failed to process message\"}",
        "{\"level\":\"error\",\"msg\":\"cache miss, falling back to origin\"}",
        "{\"level\":\"error\",\"msg\":\"oops\"}",
        "{\"level\":\"warn\",\"msg\":\"slow\",\"error\":\"context deadline exceeded\"}",
        "fail: 0 of 12 checks",
        // the same loggers at INFO and WARN (the same sources; TritonDataCenter/containerpilot's logging page)
        "{\"level\":\"info\",\"App\":\"logtest\",\"Call\":\"main\",\"time\":\"2023-10-17T15:44:35-07:00\",\"message\":\"Starting server on port 8080\"}",
        "info: Microsoft.Hosting.Lifetime[0]",
        "{\"level\":\"warning\",\"msg\":\"The group's number increased tremendously!\",\"number\":122,\"omg\":true,\"time\":\"2014-03-10 19:57:38.562471297 -0400 EDT\"}",
    ] {
        assert_eq!(extract(quiet), None, "{quiet}");
    }
}

#[test]
fn netlifys_head_api_gateways_quoted_response_and_an_unhandled_opener_are_read() {
    // Netlify's function log (its functions run on Lambda): time, the id's first eight digits, level.
    let netlify = "Feb 6, 01:28:15 PM: 4aa77591 ERROR  [11ty] Cannot read properties of null (reading 'toString') (via TypeError)";
    let said = signal(netlify);
    assert_eq!((said.kind, said.report.request_id.as_deref()), (ErrorKind::Logged, Some("4aa77591")));
    assert_eq!(stated_level(netlify), Some(StatedLevel::Error));
    // API Gateway's execution log quotes the function's error document (rotemtam/serverless-aws-logs-parser).
    let gateway = "2016-10-01T10:55:36.480Z Endpoint response body before transformations: {\"errorMessage\":\"Error: Request failed with status code 422\"}";
    let said = signal(gateway);
    assert_eq!(said.kind, ErrorKind::Failure);
    assert_eq!(said.report.message.as_deref(), Some("Error: Request failed with status code 422"));
    // An application that says an error went unhandled, at INFO (medplum/medplum#8017).
    let unhandled = "2025-12-09T23:57:51.720Z\tf82d50c0-1469-4d5e-8769-14f26d94efae\tINFO\tUnhandled error: Unrecognized bundle type:";
    assert_eq!(signal(unhandled).kind, ErrorKind::Logged);
    // Near misses: a successful response quoted by API Gateway; a library's debug output that
    // Node.js tagged ERROR because it went to stderr (Logflare's Vercel fixtures); a month
    // name that opens a sentence; a count of unhandled errors.
    for quiet in [
        "2016-10-01T10:55:36.480Z Endpoint response body before transformations: {\"statusCode\":200,\"body\":\"ok\"}",
        "2020-02-28T17:37:14.156Z\t0304cfe3-629e-4d52-b884-1afa78c631a3\tERROR\tprisma:info  Starting a postgresql pool with 1 connections.",
        "2020-02-27T15:58:34.787Z\t62579afd-84ac-42ac-b09c-a0d44e823374\tERROR\tprisma:query SELECT 1",
        "May 6, the order service restarted at 01:28:15",
        "Unhandled errors today: 0",
    ] {
        assert_eq!(extract(quiet), None, "{quiet}");
    }
    // The same stderr tag with words that say something failed is an error.
    let failed = "2020-02-28T17:37:14.156Z\t0304cfe3-629e-4d52-b884-1afa78c631a3\tERROR\tprisma:error  Can't reach database server at `db:5432`";
    assert_eq!(signal(failed).kind, ErrorKind::Logged);
}
