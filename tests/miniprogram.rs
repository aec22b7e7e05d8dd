//! The mini program project (`miniprogram/`, issue #8) under node against the example
//! hospital: on launch it logs in with `wx.login` (a code the simulated WeChat issued) through
//! the hospital's `/api/login/mini`, gets a one-time ticket, and opens the web-view with it; the
//! web-view page trades the ticket for its session (once: a second use is refused); no URL the
//! mini program builds carries the openid; `app.json` names both pages and allows the jump to
//! the 医保 pay mini program.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::Command;

use cashier::cli::serve::ServeArguments;

fn node_available() -> bool {
    Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mini_program_logs_in_on_launch_and_opens_the_web_view_with_a_one_time_ticket() {
    if !node_available() {
        eprintln!("\n*** SKIPPED: node is not installed ***\n");
        return;
    }
    let serving = cashier::cli::serve::start(&ServeArguments {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: None,
        seed: 9,
    })
    .await
    .unwrap();
    let host = format!("http://{}", serving.address);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/miniprogram");
    let script = format!(
        r#"
        const assert = require('assert');
        const host = {host:?};
        const requested = [];
        globalThis.wx = {{
          login(options) {{
            fetch(host + '/__shim/login', {{ method: 'POST', headers: {{ 'Content-Type': 'application/json' }},
              body: JSON.stringify({{ appid: 'wx1f1e2d3c4b5a6978' }}) }})
              .then((r) => r.json()).then((body) => options.success({{ code: body.code }}), options.fail);
          }},
          request(options) {{
            requested.push(options.url);
            fetch(options.url, {{ method: options.method, headers: options.header, body: JSON.stringify(options.data) }})
              .then(async (r) => options.success({{ statusCode: r.status, data: await r.json() }}), options.fail);
          }},
        }};
        const app = require({app:?});
        const index = require({index:?});
        const json = require({json:?});
        assert.deepStrictEqual(json.pages, ['pages/index/index', 'pages/pay/pay']);
        assert.ok(json.navigateToMiniProgramAppIdList.includes('wxe1022cca111d18be'));
        app.login(wx, host, async (error, ticket) => {{
          assert.ifError(error);
          const url = index.webViewUrl(host, ticket);
          assert.ok(url.startsWith(host + '/?ticket='), url);
          for (const seen of requested.concat([url])) {{
            assert.ok(!seen.includes('oMiniPayer'), 'an openid in a URL: ' + seen);
          }}
          const redeem = () => fetch(host + '/api/login/ticket', {{ method: 'POST',
            headers: {{ 'Content-Type': 'application/json' }}, body: JSON.stringify({{ ticket }}) }});
          const first = await redeem();
          assert.strictEqual(first.status, 200);
          assert.ok((first.headers.get('set-cookie') || '').includes('HttpOnly'));
          assert.ok((first.headers.get('set-cookie') || '').includes('SameSite=Lax'));
          const again = await redeem();
          assert.strictEqual(again.status, 401, 'a ticket works once');
          // A replayed wx.login code is refused by WeChat (40163) and gives no ticket.
          const code = (await (await fetch(host + '/__shim/login', {{ method: 'POST',
            headers: {{ 'Content-Type': 'application/json' }}, body: JSON.stringify({{ appid: 'wx1f1e2d3c4b5a6978' }}) }})).json()).code;
          const login = (body) => fetch(host + '/api/login/mini', {{ method: 'POST',
            headers: {{ 'Content-Type': 'application/json' }}, body: JSON.stringify(body) }});
          assert.strictEqual((await login({{ app: 'mini_program', code }})).status, 200);
          const replay = await login({{ app: 'mini_program', code }});
          assert.strictEqual(replay.status, 401);
          assert.strictEqual((await replay.json()).code, 'code_used');
          console.log('ok');
        }});
        "#,
        app = format!("{root}/app.js"),
        index = format!("{root}/pages/index/index.js"),
        json = format!("{root}/app.json"),
    );
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node").arg("-e").arg(script).output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success() && String::from_utf8_lossy(&output.stdout).contains("ok"),
        "node: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
