//! Behaviour of the compiled redactor: config, operators, JSON, streams, SSE.

use super::*;

fn redactor_from(json: &str) -> Redactor {
    let s: RedactionSettings = serde_json::from_str(json).unwrap();
    Redactor::compile(s, &["chat", "embed"], "redaction").unwrap()
}

fn default_redactor() -> Redactor {
    redactor_from("{}")
}

fn all(r: &Redactor) -> ProfileId {
    r.default_profile().unwrap()
}

fn text(r: &Redactor, s: &str) -> String {
    r.redact_text(all(r), s, &mut Counts::default())
}

fn compile_err(json: &str) -> ConfigError {
    let s: RedactionSettings = serde_json::from_str(json).unwrap();
    Redactor::compile(s, &["chat"], "redaction").unwrap_err()
}

// ---- config ------------------------------------------------------------------

#[test]
fn defaults_redact_every_builtin_with_a_placeholder() {
    let r = default_redactor();
    assert_eq!(text(&r, "mail john@example.com"), "mail [REDACTED:EMAIL]");
    assert_eq!(
        text(&r, "card 4111 1111 1111 1111"),
        "card [REDACTED:CREDIT_CARD]"
    );
}

#[test]
fn unknown_settings_field_is_refused() {
    assert!(serde_json::from_str::<RedactionSettings>(r#"{"windw_bytes": 10}"#).is_err());
    assert!(serde_json::from_str::<RedactionSettings>(
        r#"{"entities": {"EMAIL": {"operatr": "mask"}}}"#
    )
    .is_err());
}

#[test]
fn config_errors_name_the_field() {
    let cases = [
        (r#"{"window_bytes": 8}"#, "redaction.window_bytes"),
        (
            r#"{"entities": {"EMAILS": {}}}"#,
            "redaction.entities.EMAILS",
        ),
        (
            r#"{"entities": {"EMAIL": {"operator": "hash"}}}"#,
            "redaction.hash_key",
        ),
        (
            r#"{"entities": {"EMAIL": {"placeholder": "\"x\""}}}"#,
            "redaction.entities.EMAIL.placeholder",
        ),
        (
            r#"{"custom": [{"name": "ticket", "pattern": "T-\\d+"}]}"#,
            "redaction.custom[0].name",
        ),
        (
            r#"{"custom": [{"name": "EMAIL", "pattern": "x"}]}"#,
            "redaction.custom[0].name",
        ),
        (
            r#"{"custom": [{"name": "T", "pattern": "("}]}"#,
            "redaction.custom[0].pattern",
        ),
        (
            r#"{"custom": [{"name": "T", "pattern": "a*"}]}"#,
            "redaction.custom[0].pattern",
        ),
        (
            r#"{"profiles": [{"routes": ["nope"]}]}"#,
            "redaction.profiles[0].routes[0]",
        ),
        (
            r#"{"profiles": [{"entities": ["NOPE"]}]}"#,
            "redaction.profiles[0].entities[0]",
        ),
        (r#"{"json_max_bytes": 0}"#, "redaction.json_max_bytes"),
    ];
    for (json, path) in cases {
        assert_eq!(compile_err(json).path, path, "{json}");
    }
}

#[test]
fn custom_pattern_is_redacted_under_its_name() {
    let r = redactor_from(r#"{"custom": [{"name": "TICKET", "pattern": "TKT-[0-9]{6}"}]}"#);
    let mut c = Counts::default();
    assert_eq!(
        r.redact_text(all(&r), "see TKT-123456.", &mut c),
        "see [REDACTED:TICKET]."
    );
    assert_eq!(c.get("TICKET"), 1);
}

#[test]
fn disabled_entity_is_left_alone() {
    let r = redactor_from(r#"{"entities": {"IP_ADDRESS": {"enabled": false}}}"#);
    assert_eq!(text(&r, "host 10.1.2.3"), "host 10.1.2.3");
}

#[test]
fn profiles_select_entities_per_route_and_role() {
    let r = redactor_from(
        r#"{"profiles": [
            {"routes": ["chat"], "roles": ["admin"], "entities": []},
            {"routes": ["chat"], "entities": ["EMAIL"]}
        ]}"#,
    );
    assert_eq!(r.profile_for("chat", &["admin".to_string()]), None);
    let p = r.profile_for("chat", &["user".to_string()]).unwrap();
    let mut c = Counts::default();
    assert_eq!(
        r.redact_text(p, "a@b.co 10.1.2.3", &mut c),
        "[REDACTED:EMAIL] 10.1.2.3"
    );
    let other = r.profile_for("embed", &[]).unwrap();
    assert_eq!(
        r.redact_text(other, "a@b.co 10.1.2.3", &mut c),
        "[REDACTED:EMAIL] [REDACTED:IP_ADDRESS]"
    );
}

// ---- operators -------------------------------------------------------------------

#[test]
fn replace_uses_a_configured_template() {
    let r = redactor_from(r#"{"entities": {"EMAIL": {"placeholder": "<{entity}>"}}}"#);
    assert_eq!(text(&r, "x a@b.co"), "x <EMAIL>");
}

#[test]
fn mask_keeps_the_last_characters() {
    let r = redactor_from(r#"{"entities": {"CREDIT_CARD": {"operator": "mask", "keep_last": 4}}}"#);
    assert_eq!(text(&r, "4111111111111111"), "************1111");
}

#[test]
fn hash_is_stable_within_a_deployment() {
    let r = redactor_from(
        r#"{"hash_key": "0123456789abcdef0123", "entities": {"EMAIL": {"operator": "hash"}}}"#,
    );
    let a = text(&r, "john@example.com");
    let b = text(&r, "again john@example.com");
    assert!(a.starts_with("[EMAIL:") && !a.contains("john"), "{a}");
    assert_eq!(b, format!("again {a}"));
}

#[test]
fn counts_name_entities_never_values() {
    let r = default_redactor();
    let mut c = Counts::default();
    r.redact_text(all(&r), "a@b.co c@d.org 10.0.0.1", &mut c);
    let v: Vec<(&str, u64)> = c.iter().collect();
    assert_eq!(v, vec![("EMAIL", 2), ("IP_ADDRESS", 1)]);
    assert_eq!(c.total(), 3);
}

#[test]
fn benign_numbers_survive() {
    let r = default_redactor();
    let benign = "Order #4155550132 shipped 2024-01-15T10:30:00Z, v1.2.3, build 10.0.19041.1, \
                  uuid 550e8400-e29b-41d4-a716-446655440000, total $1,234.56, ISBN 978-0-306-40615-7, \
                  ts 1700000000000, invoice INV-2023-000123, ratio 16:9, port 8080, 3.14159";
    assert_eq!(text(&r, benign), benign);
}

// ---- JSON --------------------------------------------------------------------------

#[test]
fn json_redacts_inside_strings_and_stays_valid() {
    let r = default_redactor();
    let body = br#"{"choices":[{"message":{"role":"assistant","content":"mail john@example.com"}}],"usage":{"total_tokens":4111111111111111}}"#;
    let out = r
        .redact_json(all(&r), body, &mut Counts::default())
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "mail [REDACTED:EMAIL]"
    );
    assert_eq!(
        v["usage"]["total_tokens"], 4111111111111111u64,
        "numbers are not strings: untouched"
    );
}

#[test]
fn json_escaped_at_sign_is_still_found() {
    let r = default_redactor();
    let body = br#"{"content":"john\u0040example.com said \"hi\""}"#;
    let out = r
        .redact_json(all(&r), body, &mut Counts::default())
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["content"], "[REDACTED:EMAIL] said \"hi\"");
}

#[test]
fn json_tool_call_arguments_are_redacted_as_nested_text() {
    let r = default_redactor();
    let body = br#"{"arguments":"{\"email\":\"a@b.co\",\"n\":1}"}"#;
    let out = r
        .redact_json(all(&r), body, &mut Counts::default())
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let inner: serde_json::Value = serde_json::from_str(v["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(inner["email"], "[REDACTED:EMAIL]");
}

#[test]
fn json_without_findings_is_returned_byte_for_byte() {
    let r = default_redactor();
    let body = b"{ \"a\" : \"plain \\u00e9\" ,\n \"b\": 1.0 }";
    assert_eq!(
        r.redact_json(all(&r), body, &mut Counts::default())
            .unwrap(),
        body.to_vec()
    );
}

#[test]
fn json_errors_have_codes() {
    let r = redactor_from(r#"{"json_max_bytes": 10}"#);
    let p = all(&r);
    assert_eq!(
        r.redact_json(p, b"{\"a\":", &mut Counts::default()),
        Err(RedactionError::InvalidJson)
    );
    assert_eq!(
        r.redact_json(p, br#"{"a":"0123456789"}"#, &mut Counts::default())
            .unwrap_err()
            .code(),
        "redaction_body_too_large"
    );
}

// ---- text streams --------------------------------------------------------------------

fn stream_chunks(r: &Redactor, kind: StreamKind, chunks: &[&[u8]]) -> (String, Counts) {
    let mut s = r.stream(all(r), kind);
    let mut c = Counts::default();
    let mut out = Vec::new();
    for ch in chunks {
        out.extend(s.push(ch, &mut c));
    }
    out.extend(s.finish(&mut c));
    (String::from_utf8(out).unwrap(), c)
}

const SECRETS: &[(&str, &str)] = &[
    ("john.doe@example.com", "EMAIL"),
    ("4111 1111 1111 1111", "CREDIT_CARD"),
    ("078-05-1123", "US_SSN"),
    ("DE89 3704 0044 0532 0130 00", "IBAN"),
    ("sk-proj-abcDEF1234567890abcdefGHIJ", "OPENAI_KEY"),
    ("2001:db8::8a2e:370:7334", "IP_ADDRESS"),
];

#[test]
fn text_stream_catches_a_secret_split_at_every_point_into_two_chunks() {
    let r = default_redactor();
    for (secret, entity) in SECRETS {
        let whole = format!("before {secret} after");
        let want = format!("before [REDACTED:{entity}] after");
        for i in 0..=whole.len() {
            let (a, b) = whole.as_bytes().split_at(i);
            let (out, c) = stream_chunks(&r, StreamKind::Text, &[a, b]);
            assert_eq!(out, want, "split at {i}");
            assert_eq!(c.get(entity), 1);
        }
    }
}

#[test]
fn text_stream_catches_a_secret_split_at_every_pair_of_points_into_three_chunks() {
    let r = default_redactor();
    for (secret, entity) in SECRETS {
        let whole = format!("x {secret} y");
        let want = format!("x [REDACTED:{entity}] y");
        let b = whole.as_bytes();
        for i in 0..=b.len() {
            for j in i..=b.len() {
                let (out, _) = stream_chunks(&r, StreamKind::Text, &[&b[..i], &b[i..j], &b[j..]]);
                assert_eq!(out, want, "split at {i},{j}");
            }
        }
    }
}

#[test]
fn text_stream_with_small_window_and_long_text_equals_whole_text_redaction() {
    let r = redactor_from(r#"{"window_bytes": 64}"#);
    let mut whole = String::new();
    for i in 0..200 {
        whole.push_str(&format!(
            "line {i}: contact user{i}@example.com or 415-555-01{:02} now. ",
            i % 100
        ));
    }
    let expected = text(&r, &whole);
    for size in [1usize, 3, 7, 50, 333] {
        let chunks: Vec<&[u8]> = whole.as_bytes().chunks(size).collect();
        let (out, c) = stream_chunks(&r, StreamKind::Text, &chunks);
        assert_eq!(out, expected, "chunk size {size}");
        assert_eq!(c.get("EMAIL"), 200);
    }
}

#[test]
fn text_stream_keeps_multibyte_characters_split_across_chunks() {
    let r = default_redactor();
    let whole = "héllo 😀 wörld a@b.co ✓".repeat(20);
    let chunks: Vec<&[u8]> = whole.as_bytes().chunks(1).collect();
    let (out, _) = stream_chunks(&r, StreamKind::Text, &chunks);
    assert_eq!(out, "héllo 😀 wörld [REDACTED:EMAIL] ✓".repeat(20));
}

#[test]
fn text_stream_releases_text_before_the_end() {
    let r = default_redactor();
    let mut s = r.stream(all(&r), StreamKind::Text);
    let mut c = Counts::default();
    let out = s.push("word ".repeat(200).as_bytes(), &mut c);
    assert!(out.len() >= 1000 - 256, "released {}", out.len());
    assert!(s.buffered_bytes() <= 256 + 64);
}

#[test]
fn text_stream_memory_is_bounded_on_an_endless_stream() {
    let r = default_redactor();
    let mut s = r.stream(all(&r), StreamKind::Text);
    let mut c = Counts::default();
    let mut max = 0;
    for i in 0..20_000u32 {
        let chunk = format!("chunk {i} mail a{i}@x.io tok AKIA{:016} ", i);
        let _ = s.push(chunk.as_bytes(), &mut c);
        max = max.max(s.buffered_bytes());
    }
    assert!(max <= 256 + 64 + 64, "held {max} bytes");
    assert!(
        c.get("EMAIL") >= 20_000 - 10,
        "all but the held tail redacted: {}",
        c.get("EMAIL")
    );
    let tail = s.finish(&mut c);
    assert_eq!(c.get("EMAIL"), 20_000);
    assert!(!String::from_utf8(tail).unwrap().contains("@x.io"));
}

#[test]
fn endless_private_key_is_suppressed_with_bounded_memory() {
    let r = default_redactor();
    let mut s = r.stream(all(&r), StreamKind::Text);
    let mut c = Counts::default();
    let mut out = s.push(b"key:\n-----BEGIN RSA PRIVATE KEY-----\n", &mut c);
    let mut max = 0;
    for _ in 0..5_000 {
        out.extend(s.push(
            b"MIIEowIBAAKCAQEAsecretsecretsecretsecretsecretsecretsecretsecret\n",
            &mut c,
        ));
        max = max.max(s.buffered_bytes());
    }
    out.extend(s.push(b"-----END RSA PRIVATE KEY-----\nafter", &mut c));
    out.extend(s.finish(&mut c));
    let out = String::from_utf8(out).unwrap();
    assert!(max <= 16 * 1024 + 512, "held {max}");
    assert!(
        !out.contains("MIIE") && !out.contains("secret"),
        "{}",
        &out[..out.len().min(200)]
    );
    assert!(out.starts_with("key:\n[REDACTED:PRIVATE_KEY]"), "{out}");
    assert!(out.ends_with("\nafter"), "{out}");
}

#[test]
fn private_key_block_streamed_in_small_chunks_is_redacted_whole() {
    let r = default_redactor();
    let block = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----",
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC".repeat(40)
    );
    let whole = format!("here: {block} done");
    let chunks: Vec<&[u8]> = whole.as_bytes().chunks(5).collect();
    let (out, _) = stream_chunks(&r, StreamKind::Text, &chunks);
    assert_eq!(out, "here: [REDACTED:PRIVATE_KEY] done");
}

// ---- SSE ---------------------------------------------------------------------------------

fn chat_chunk(id: &str, content: &str) -> String {
    format!(
        "data: {{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}},\"finish_reason\":null}}]}}\n\n",
        serde_json::to_string(content).unwrap()
    )
}

/// Concatenated delta content of every chat chunk in an SSE body, and whether it ended with [DONE].
fn chat_text(sse: &str) -> (String, bool) {
    let mut s = String::new();
    let mut done = false;
    for ev in sse.split("\n\n") {
        for line in ev.lines() {
            if let Some(d) = line.strip_prefix("data: ") {
                if d == "[DONE]" {
                    done = true;
                    continue;
                }
                let v: serde_json::Value = serde_json::from_str(d).unwrap();
                if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
                    s.push_str(c);
                }
            }
        }
    }
    (s, done)
}

#[test]
fn sse_value_split_across_deltas_is_caught() {
    let r = default_redactor();
    let body = format!(
        "{}{}{}{}{}data: [DONE]\n\n",
        chat_chunk("c1", "mail "),
        chat_chunk("c1", "jo"),
        chat_chunk("c1", "hn@exam"),
        chat_chunk("c1", "ple.com"),
        chat_chunk("c1", " thanks"),
    );
    let (out, c) = stream_chunks(&r, StreamKind::Sse, &[body.as_bytes()]);
    let (content, done) = chat_text(&out);
    assert_eq!(content, "mail [REDACTED:EMAIL] thanks");
    assert!(done && out.ends_with("data: [DONE]\n\n"), "{out}");
    assert_eq!(c.get("EMAIL"), 1);
    assert!(!out.contains("john") && !out.contains("hn@exam"));
}

#[test]
fn sse_split_at_every_byte_gives_the_same_result() {
    let r = default_redactor();
    let body = format!(
        "{}{}: keep-alive\n\n{}data: [DONE]\n\n",
        chat_chunk("c1", "call 415-555-"),
        chat_chunk("c1", "0132 or mail a@b.co"),
        chat_chunk("c1", "!")
    );
    let (reference, _) = stream_chunks(&r, StreamKind::Sse, &[body.as_bytes()]);
    assert_eq!(
        chat_text(&reference).0,
        "call [REDACTED:PHONE] or mail [REDACTED:EMAIL]!"
    );
    let b = body.as_bytes();
    for i in 0..=b.len() {
        let (out, _) = stream_chunks(&r, StreamKind::Sse, &[&b[..i], &b[i..]]);
        assert_eq!(chat_text(&out).0, chat_text(&reference).0, "split at {i}");
        assert!(out.contains(": keep-alive\n\n") && out.ends_with("data: [DONE]\n\n"));
    }
}

#[test]
fn sse_framing_ids_and_event_names_are_kept() {
    let r = default_redactor();
    let body = "id: 7\r\nevent: message\r\ndata: {\"id\":\"c9\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"hi a@b.co\"},\"finish_reason\":\"stop\"}]}\r\n\r\ndata: [DONE]\r\n\r\n";
    let (out, _) = stream_chunks(&r, StreamKind::Sse, &[body.as_bytes()]);
    assert!(
        out.starts_with("id: 7\r\nevent: message\r\ndata: {"),
        "{out}"
    );
    assert!(out.contains("\"role\":\"assistant\""));
    assert!(
        out.contains("\"content\":\"hi [REDACTED:EMAIL]\""),
        "finish flushes into the event: {out}"
    );
    assert!(out.contains("\"finish_reason\":\"stop\""));
    assert!(out.ends_with("\r\n\r\ndata: [DONE]\r\n\r\n"));
}

#[test]
fn sse_held_text_is_flushed_before_done_in_a_synthetic_chunk() {
    let r = default_redactor();
    let body = format!("{}data: [DONE]\n\n", chat_chunk("c5", "reach me at a@b.co"));
    let (out, _) = stream_chunks(&r, StreamKind::Sse, &[body.as_bytes()]);
    let done_at = out.find("data: [DONE]").unwrap();
    let flushed = out[..done_at].rfind("data: {").unwrap();
    let v: serde_json::Value = serde_json::from_str(out[flushed + 6..done_at].trim()).unwrap();
    assert_eq!(v["id"], "c5");
    // The prose left in its own event; only the value that could still grow waited.
    assert_eq!(v["choices"][0]["delta"]["content"], "[REDACTED:EMAIL]");
    assert_eq!(chat_text(&out).0, "reach me at [REDACTED:EMAIL]");
}

#[test]
fn sse_each_choice_has_its_own_window() {
    let r = default_redactor();
    let ev = |i: u32, t: &str| {
        format!(
            "data: {{\"choices\":[{{\"index\":{i},\"delta\":{{\"content\":{}}}}}]}}\n\n",
            serde_json::to_string(t).unwrap()
        )
    };
    let body = format!(
        "{}{}{}{}data: [DONE]\n\n",
        ev(0, "a@"),
        ev(1, "x@"),
        ev(0, "b.co"),
        ev(1, "y.org")
    );
    let (out, c) = stream_chunks(&r, StreamKind::Sse, &[body.as_bytes()]);
    assert_eq!(c.get("EMAIL"), 2, "{out}");
    assert!(!out.contains("b.co") && !out.contains("y.org"));
}

#[test]
fn sse_tool_call_arguments_are_windowed() {
    let r = default_redactor();
    let ev = |args: &str| {
        format!(
            "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":[{{\"index\":0,\"function\":{{\"name\":\"send\",\"arguments\":{}}}}}]}}}}]}}\n\n",
            serde_json::to_string(args).unwrap()
        )
    };
    let body = format!(
        "{}{}{}data: [DONE]\n\n",
        ev("{\"to\":\"jo"),
        ev("hn@example"),
        ev(".com\"}")
    );
    let (out, c) = stream_chunks(&r, StreamKind::Sse, &[body.as_bytes()]);
    assert_eq!(c.get("EMAIL"), 1, "{out}");
    assert!(out.contains("\"name\":\"send\""));
    let mut args = String::new();
    for line in out
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
    {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        args.push_str(
            v["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap_or(""),
        );
    }
    assert_eq!(args, "{\"to\":\"[REDACTED:EMAIL]\"}");
}

#[test]
fn sse_anthropic_deltas_are_windowed_and_flushed_at_block_stop() {
    let r = default_redactor();
    let d = |t: &str| {
        format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":{}}}}}\n\n",
            serde_json::to_string(t).unwrap()
        )
    };
    let body = format!(
        "{}{}event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":0}}\n\nevent: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n",
        d("key sk-ant-api03-abcdefghij"),
        d("klmnopqrstuvwxyz0123 ok"),
    );
    let (out, c) = stream_chunks(&r, StreamKind::Sse, &[body.as_bytes()]);
    assert_eq!(c.get("ANTHROPIC_KEY"), 1, "{out}");
    assert!(!out.contains("klmnop"));
    let stop = out.find("event: content_block_stop").unwrap();
    assert!(
        out[..stop].contains("[REDACTED:ANTHROPIC_KEY] ")
            && out[..stop].contains("\"text\":\"ok\""),
        "flushed before the stop: {out}"
    );
}

#[test]
fn sse_responses_api_deltas_are_windowed_and_done_text_redacted() {
    let r = default_redactor();
    let d = |t: &str| {
        format!(
            "event: response.output_text.delta\ndata: {{\"type\":\"response.output_text.delta\",\"item_id\":\"m1\",\"output_index\":0,\"content_index\":0,\"delta\":{}}}\n\n",
            serde_json::to_string(t).unwrap()
        )
    };
    let body = format!(
        "{}{}event: response.output_text.done\ndata: {{\"type\":\"response.output_text.done\",\"item_id\":\"m1\",\"output_index\":0,\"content_index\":0,\"text\":\"ip 10.20.30.40\"}}\n\n",
        d("ip 10.20."),
        d("30.40"),
    );
    let (out, c) = stream_chunks(&r, StreamKind::Sse, &[body.as_bytes()]);
    assert!(!out.contains("10.20"), "{out}");
    assert_eq!(c.get("IP_ADDRESS"), 2);
    let done = out.find("event: response.output_text.done").unwrap();
    assert!(out[..done].contains("event: response.output_text.delta\ndata: {"));
}

#[test]
fn sse_non_json_data_goes_through_a_window() {
    let r = default_redactor();
    let body = "data: mail jo\n\ndata: hn@example.com\n\n";
    let (out, c) = stream_chunks(&r, StreamKind::Sse, &[body.as_bytes()]);
    assert_eq!(c.get("EMAIL"), 1, "{out}");
    assert!(!out.contains("example.com"));
}

#[test]
fn sse_memory_is_bounded_on_an_endless_stream() {
    let r = default_redactor();
    let mut s = r.stream(all(&r), StreamKind::Sse);
    let mut c = Counts::default();
    let mut max = 0;
    for i in 0..20_000u32 {
        let ev = chat_chunk("c", &format!("tok{i} a{i}@x.io "));
        let _ = s.push(ev.as_bytes(), &mut c);
        max = max.max(s.buffered_bytes());
    }
    assert!(max <= 1024, "held {max}");
    // an event that never ends falls back to plain text, still bounded
    let mut s = r.stream(all(&r), StreamKind::Sse);
    let _ = s.push(b"data: ", &mut c);
    for _ in 0..5_000 {
        let _ = s.push(&[b'x'; 1000], &mut c);
        max = max.max(s.buffered_bytes());
    }
    assert!(s.buffered_bytes() <= 1024, "held {}", s.buffered_bytes());
}

#[test]
fn arbitrary_input_never_panics() {
    // A small deterministic generator over bytes that matter to the parsers.
    let alphabet: &[u8] = b"0123456789 -.:/@+()[]{}\"\\,=_aAkKsSxXeEyYJ\n\r\xc3\xa9\xff%BEGIN PRIVATE KEY-----data: [DONE]";
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let r = redactor_from(r#"{"window_bytes": 64, "max_match_bytes": 128}"#);
    let p = all(&r);
    for _ in 0..300 {
        let len = (next() % 400) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let text = String::from_utf8_lossy(&bytes);
        let mut c = Counts::default();
        let _ = r.redact_text(p, &text, &mut c);
        let _ = r.redact_json(p, &bytes, &mut c);
        for kind in [
            StreamKind::Text,
            StreamKind::Sse,
            StreamKind::Lines,
            StreamKind::JsonSeq,
        ] {
            let mut s = r.stream(p, kind);
            for ch in bytes.chunks(1 + (next() % 17) as usize) {
                let _ = s.push(ch, &mut c);
            }
            let _ = s.finish(&mut c);
        }
    }
}

// ---- release at the stream's pace ----------------------------------------------------

/// Realistic sentences with every entity, several disguised.
const PACE_CORPUS: &[&str] = &[
    "Sure! You can reach John at john.doe@example.com or call (415) 555-0132 tomorrow.",
    "Her card 4111 1111 1111 1111 expires 12/29; the IBAN is DE89 3704 0044 0532 0130 00.",
    "SSN 078-05-1123 was on file, and the server 10.20.30.40 logged it. Pay NL91 ABNA 0417 1643 00 now.",
    "Phone: 699 956 915, or WhatsApp +34 699 956 915 after six.",
    "Use password: \"correct horse battery\" and key sk-proj-abcDEF1234567890abcdefGHIJ today.",
    "Ｍａｉｌ ａｌｉｃｅ＠ｅｘａｍｐｌｅ.com or card 4111\u{200B}1111\u{200B}1111\u{200B}1111 please.",
    "No personal data here, just a plain answer about the weather in 2024 and 3 apples.",
];

/// Whole-text redaction is the reference for every chunking.
fn check_chunking(r: &Redactor, whole: &str, sizes: &[usize]) {
    let expected = text(r, whole);
    let b = whole.as_bytes();
    let mut i = 0;
    let mut k = 0;
    let mut chunks: Vec<&[u8]> = Vec::new();
    while i < b.len() {
        let n = sizes[k % sizes.len()].min(b.len() - i);
        chunks.push(&b[i..i + n]);
        i += n;
        k += 1;
    }
    let (out, _) = stream_chunks(r, StreamKind::Text, &chunks);
    assert_eq!(out, expected, "sizes {sizes:?} on {whole:?}");
}

#[test]
fn every_chunking_equals_whole_text_redaction_on_realistic_sentences() {
    let r = default_redactor();
    let whole = PACE_CORPUS.join(" ");
    for sizes in [&[1usize][..], &[2], &[3], &[4], &[5, 1, 7], &[13, 2], &[64]] {
        check_chunking(&r, &whole, sizes);
    }
    for line in PACE_CORPUS {
        for cut in 0..=line.len() {
            if line.is_char_boundary(cut) {
                let (a, b) = line.as_bytes().split_at(cut);
                let (out, _) = stream_chunks(&r, StreamKind::Text, &[a, b]);
                assert_eq!(out, text(&r, line), "split at {cut} of {line:?}");
            }
        }
    }
}

/// Length of the longest suffix of `seen` that could still be part of a
/// value: the trailing word (a word may be an e-mail's local part), the
/// chain of number groups before it, or the prefix of a value of `whole`
/// that `seen` ends inside (a quoted secret with spaces).
fn longest_partial(seen: &str, whole: &str, values: &[&str]) -> usize {
    let b = seen.as_bytes();
    let mut k = b.len();
    while k > 0 && !b[k - 1].is_ascii_whitespace() {
        k -= 1;
    }
    // Number groups joined by single spaces (an IBAN's four-letter bank code
    // counts as a group), beginning with digits.
    let mut j = k;
    let mut chain = Vec::new();
    while j >= 2 && b[j - 1] == b' ' && !b[j - 2].is_ascii_whitespace() {
        let mut s = j - 1;
        while s > 0 && !b[s - 1].is_ascii_whitespace() {
            s -= 1;
        }
        let w = &b[s..j - 1];
        let digits = w.iter().any(u8::is_ascii_digit);
        let bank_code = w.len() <= 4 && w.iter().all(u8::is_ascii_uppercase);
        if !(digits || bank_code) {
            break;
        }
        chain.push((s, digits));
        j = s;
    }
    while chain.last().is_some_and(|&(_, d)| !d) {
        chain.pop();
    }
    let j = chain.last().map_or(k, |&(s, _)| s);
    let mut longest = b.len() - j;
    for v in values {
        for (at, _) in whole.match_indices(v) {
            if at < b.len() && b.len() <= at + v.len() {
                // The value's left context may be held with it (`password: "`).
                longest = longest.max(b.len() - at.saturating_sub(12));
            }
        }
    }
    longest
}

#[test]
fn held_back_bytes_never_exceed_the_longest_partial_match() {
    let r = default_redactor();
    let values = [
        "correct horse battery",
        "4111\u{200B}1111\u{200B}1111\u{200B}1111",
    ];
    for line in PACE_CORPUS {
        let mut s = r.stream(all(&r), StreamKind::Text);
        let mut c = Counts::default();
        let mut seen = String::new();
        for ch in line.chars() {
            let mut buf = [0u8; 4];
            let _ = s.push(ch.encode_utf8(&mut buf).as_bytes(), &mut c);
            seen.push(ch);
            let bound = longest_partial(&seen, line, &values);
            assert!(
                s.held_bytes() <= bound,
                "held {} > {bound} after {seen:?}",
                s.held_bytes()
            );
        }
    }
}

#[test]
fn prose_leaves_in_the_event_it_arrived_in() {
    let r = default_redactor();
    let mut s = r.stream(all(&r), StreamKind::Text);
    let mut c = Counts::default();
    let out = s.push(b"The weather is fine today, ", &mut c);
    assert_eq!(out, b"The weather is fine today, ");
    // A trailing word waits only for the character that ends it.
    let out = s.push(b"and tomorrow", &mut c);
    assert_eq!(out, b"and ");
    let out = s.push(b" too.\n", &mut c);
    assert_eq!(out, b"tomorrow too.\n");
}

#[test]
fn a_digit_run_is_held_until_it_ends() {
    let r = default_redactor();
    let mut s = r.stream(all(&r), StreamKind::Text);
    let mut c = Counts::default();
    let mut out = s.push(b"card 4111 1111 ", &mut c);
    assert_eq!(out, b"card ");
    out.extend(s.push(b"1111 1111", &mut c));
    assert_eq!(out, b"card ");
    out.extend(s.push(b" thanks", &mut c));
    assert_eq!(out, b"card [REDACTED:CREDIT_CARD] ");
}

fn sse_events(out: &str) -> Vec<serde_json::Value> {
    out.split("\n\n")
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

#[test]
fn sse_events_that_carried_text_are_never_sent_empty() {
    let r = default_redactor();
    let answer = "Sure, here is the summary you asked for. Write to john.doe@example.com or call 415-555-0132 if anything is unclear. Bye.";
    let mut body = String::new();
    let pieces: Vec<String> = answer
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    for p in &pieces {
        body.push_str(&chat_chunk("c9", p));
    }
    body.push_str("data: [DONE]\n\n");
    let mut s = r.stream(all(&r), StreamKind::Sse);
    let mut c = Counts::default();
    let mut out = Vec::new();
    let mut per_event_out = Vec::new();
    for ev in body.split_inclusive("\n\n") {
        let o = s.push(ev.as_bytes(), &mut c);
        per_event_out.push(!o.is_empty());
        out.extend(o);
    }
    out.extend(s.finish(&mut c));
    let out = String::from_utf8(out).unwrap();
    let events = sse_events(&out);
    for e in &events {
        let content = e["choices"][0]["delta"]["content"].as_str().unwrap_or("x");
        assert!(!content.is_empty(), "empty-content event: {e}");
    }
    assert_eq!(
        chat_text(&out).0,
        "Sure, here is the summary you asked for. Write to [REDACTED:EMAIL] or call [REDACTED:PHONE] if anything is unclear. Bye."
    );
    // Text leaves by the second event at the latest; at least half the events leave.
    assert!(per_event_out[0] || per_event_out[1], "{out}");
    let sent = per_event_out.iter().filter(|x| **x).count();
    assert!(sent * 2 >= pieces.len(), "{sent} of {}", pieces.len());
}

#[test]
fn sse_legacy_completions_text_is_windowed_per_choice() {
    let r = default_redactor();
    let ev = |t: &str| {
        format!(
            "data: {{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"text\":{},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n",
            serde_json::to_string(t).unwrap()
        )
    };
    let body = format!(
        "{}{}{}data: [DONE]\n\n",
        ev("card 4111 11"),
        ev("11 1111 1111"),
        ev(" ok")
    );
    let (out, c) = stream_chunks(&r, StreamKind::Sse, &[body.as_bytes()]);
    assert_eq!(c.get("CREDIT_CARD"), 1, "{out}");
    let text: String = sse_events(&out)
        .iter()
        .map(|e| e["choices"][0]["text"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(text, "card [REDACTED:CREDIT_CARD] ok");
    for e in sse_events(&out) {
        assert_eq!(e["object"], "text_completion");
    }
}

#[test]
fn sse_function_call_arguments_audio_transcripts_and_content_parts_are_windowed() {
    let r = default_redactor();
    let ev = |delta: serde_json::Value| {
        format!(
            "data: {}\n\n",
            serde_json::json!({"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":delta,"finish_reason":null}]})
        )
    };
    let body = [
        ev(serde_json::json!({"function_call": {"name": "f", "arguments": "{\"card\": \"4111 11"}})),
        ev(serde_json::json!({"function_call": {"arguments": "11 1111 1111\"}"}})),
        ev(serde_json::json!({"audio": {"id": "a1", "transcript": "mail jo"}})),
        ev(serde_json::json!({"audio": {"transcript": "hn@example.com now"}})),
        ev(serde_json::json!({"content": [{"type": "text", "text": "ssn 078-05-1123 ok"}]})),
        "data: [DONE]\n\n".to_string(),
    ]
    .concat();
    let (out, c) = stream_chunks(&r, StreamKind::Sse, &[body.as_bytes()]);
    assert_eq!(c.get("CREDIT_CARD"), 1, "{out}");
    assert_eq!(c.get("EMAIL"), 1, "{out}");
    assert_eq!(c.get("US_SSN"), 1, "{out}");
    for leak in ["4111", "john", "1123"] {
        assert!(!out.contains(leak), "{leak} in {out}");
    }
}

#[test]
fn logprobs_are_dropped_by_default_in_json_and_sse() {
    let r = default_redactor();
    let doc = r#"{"choices":[{"message":{"content":"card [x]"},"logprobs":{"content":[{"token":"4111","bytes":[52,49,49,49],"top_logprobs":[]}]}}]}"#;
    let out = r
        .redact_json(all(&r), doc.as_bytes(), &mut Counts::default())
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert!(v["choices"][0]["logprobs"].is_null());
    let ev = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"41\"},\"logprobs\":{\"content\":[{\"token\":\"41\",\"bytes\":[52,49]}]},\"finish_reason\":null}]}\n\n";
    let (out, _) = stream_chunks(&r, StreamKind::Sse, &[ev.as_bytes()]);
    assert!(!out.contains("bytes"), "{out}");
    let keep = redactor_from(r#"{"logprobs": "pass"}"#);
    let out = keep
        .redact_json(all(&keep), doc.as_bytes(), &mut Counts::default())
        .unwrap();
    assert!(String::from_utf8(out).unwrap().contains("\"bytes\""));
}

#[test]
fn ndjson_lines_are_windowed_and_stay_one_json_per_line() {
    let r = default_redactor();
    let line = |t: &str, done: bool| {
        format!(
            "{}\n",
            serde_json::json!({"model":"llama","created_at":"t","message":{"role":"assistant","content":t},"done":done})
        )
    };
    let body = [
        line("mail jo", false),
        line("hn@exam", false),
        line("ple.com ok", false),
        line("", true),
    ]
    .concat();
    for size in [1usize, 5, 1000] {
        let chunks: Vec<&[u8]> = body.as_bytes().chunks(size).collect();
        let (out, c) = stream_chunks(&r, StreamKind::Lines, &chunks);
        assert_eq!(c.get("EMAIL"), 1, "{out}");
        let mut text = String::new();
        for l in out.lines() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            text.push_str(v["message"]["content"].as_str().unwrap());
        }
        assert_eq!(text, "mail [REDACTED:EMAIL] ok");
    }
}

#[test]
fn escaped_values_are_caught_on_every_raw_fallback() {
    let r = default_redactor();
    let mut c = Counts::default();
    // Invalid JSON, too deep JSON and oversized events all end in a text window.
    let body = format!("{}{{\"a\":\"alice\\u0040example.com\"", "[".repeat(200));
    let (out, _) = stream_chunks(&r, StreamKind::Text, &[body.as_bytes()]);
    assert!(!out.contains("alice"), "{out}");
    let big = format!(
        "data: {{\"x\":\"{}\",\"y\":\"bob\\u0040example.com\"}}\n\n",
        "z".repeat(1_100_000)
    );
    let mut s = r.stream(all(&r), StreamKind::Sse);
    let mut out = s.push(big.as_bytes(), &mut c);
    out.extend(s.finish(&mut c));
    assert!(!String::from_utf8_lossy(&out).contains("bob"));
}

#[test]
fn json_object_keys_are_redacted_too() {
    let r = default_redactor();
    let out = r
        .redact_json(
            all(&r),
            br#"{"alice@example.com": {"card": "x"}}"#,
            &mut Counts::default(),
        )
        .unwrap();
    assert_eq!(out, br#"{"[REDACTED:EMAIL]": {"card": "x"}}"#);
}

#[test]
fn disguised_formats_are_folded_before_detection() {
    let r = default_redactor();
    for (input, entity) in [
        ("mail ａｌｉｃｅ＠ｅｘａｍｐｌｅ.com", "EMAIL"),
        ("card ４１１１ １１１１ １１１１ １１１１", "CREDIT_CARD"),
        (
            "card 4111\u{200B}1111\u{200B}1111\u{200B}1111",
            "CREDIT_CARD",
        ),
        (
            "card 4111\u{00A0}1111\u{00A0}1111\u{00A0}1111",
            "CREDIT_CARD",
        ),
        ("card 4111.1111.1111.1111", "CREDIT_CARD"),
        ("No.4111111111111111", "CREDIT_CARD"),
        ("card-4111111111111111", "CREDIT_CARD"),
        ("4111111111111111-1227", "CREDIT_CARD"),
        ("iban de89370400440532013000", "IBAN"),
        ("call me: 4155550132", "PHONE"),
    ] {
        let mut c = Counts::default();
        let out = r.redact_text(all(&r), input, &mut c);
        assert_eq!(c.get(entity), 1, "{entity} in {input:?} -> {out:?}");
    }
}

/// `redact_json` edits findings in place on the raw bytes; the result must
/// be exactly what redacting each decoded string whole and re-encoding it
/// gives (the previous method), counts included: for every realistic line,
/// as a value, as a key, with escapes and with every operator.
#[test]
fn in_place_json_edits_equal_whole_string_rewrites() {
    let lines = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/redaction/realistic.jsonl"
    ))
    .unwrap();
    let texts: Vec<String> = lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["text"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(texts.len() > 100);
    let redactors = [
        default_redactor(),
        redactor_from(
            r#"{"hash_key":"0123456789abcdef0123","entities":{"EMAIL":{"operator":"hash"},"CREDIT_CARD":{"operator":"mask","keep_last":4}}}"#,
        ),
    ];
    for r in &redactors {
        let p = all(r);
        for t in &texts {
            let escaped = t.replace('@', "\\u0040").replace(' ', "\\n");
            let docs = [
                serde_json::json!({"choices":[{"message":{"content":t}}],"n":1}).to_string(),
                serde_json::json!({ t.as_str(): {"k": [t, 1, null]} }).to_string(),
                format!(
                    r#"{{"a":"{}","b":"x \"q\" {}"}}"#,
                    escaped,
                    t.replace('"', "")
                ),
            ];
            for doc in &docs {
                let mut c_new = Counts::default();
                let new = r.redact_json(p, doc.as_bytes(), &mut c_new).unwrap();
                let mut c_old = Counts::default();
                let old = json::rewrite(doc.as_bytes(), json::Options::default(), &mut |_, s| {
                    r.inner.redact_string(p.0, s, &mut c_old)
                })
                .unwrap()
                .unwrap_or_else(|| doc.as_bytes().to_vec());
                assert_eq!(
                    String::from_utf8_lossy(&new),
                    String::from_utf8_lossy(&old),
                    "{doc}"
                );
                assert_eq!(c_new, c_old, "{doc}");
            }
        }
    }
}

/// Plain chat chunks are read without a `serde_json::Value` when no caller
/// observes the events (`push`); the output must equal the `Value` path's
/// (`push_observed`) byte for byte, counts included, for every shape the
/// light parse takes or refuses, in every chunking.
#[test]
fn light_chat_chunks_redact_exactly_like_the_value_path() {
    let ev = |v: serde_json::Value| format!("data: {v}\n\n");
    let chunk = |delta: serde_json::Value, fin: serde_json::Value| {
        serde_json::json!({"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",
            "system_fingerprint":null,"choices":[{"index":0,"delta":delta,"logprobs":null,"finish_reason":fin}]})
    };
    let null = serde_json::Value::Null;
    let mut streams: Vec<String> = Vec::new();
    // The usual stream: role first, text split across events, finish, usage, [DONE].
    let mut s = ev(chunk(
        serde_json::json!({"role":"assistant","content":""}),
        null.clone(),
    ));
    for piece in [
        "Mail jo",
        "hn@exam",
        "ple.com or call +1 415",
        " 555 0100, card 4111 ",
        "1111 1111 1111",
        " \"quoted\" \u{00e9}\\ done",
    ] {
        s += &ev(chunk(serde_json::json!({"content": piece}), null.clone()));
    }
    s += &ev(chunk(serde_json::json!({}), serde_json::json!("stop")));
    s += &ev(
        serde_json::json!({"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],
        "usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}),
    );
    s += "data: [DONE]\n\n";
    streams.push(s);
    // Two choices, a null delta field, reasoning text, a model change mid-stream.
    let mut s = String::new();
    for (i, piece) in [
        "ssn 536-22",
        "-4117 and ",
        "key sk-abcdefghijklmnopqrstuvwxyz012345",
    ]
    .iter()
    .enumerate()
    {
        s += &ev(
            serde_json::json!({"id":"c2","object":"chat.completion.chunk","created":2,"model":format!("m{i}"),
            "choices":[{"index":1,"delta":{"content":piece,"refusal":null}},{"index":0,"delta":{"reasoning_content":piece}}]}),
        );
    }
    s += &ev(
        serde_json::json!({"id":"c2","choices":[{"index":0,"delta":{},"finish_reason":"stop"},{"index":1,"delta":{},"finish_reason":"length"}]}),
    );
    streams.push(s);
    // Shapes the light parse refuses: tool calls, content parts, an unknown
    // choice field, a null delta, a non-integer index, legacy completions text.
    let mut s = String::new();
    s += &ev(chunk(
        serde_json::json!({"tool_calls":[{"index":2,"id":"t","function":{"name":"f","arguments":"{\"e\":\"a@b"}}]}),
        null.clone(),
    ));
    s += &ev(chunk(
        serde_json::json!({"tool_calls":[{"index":2,"function":{"arguments":".co\"}"}}]}),
        null.clone(),
    ));
    s += &ev(chunk(
        serde_json::json!({"content":[{"type":"text","text":"mail x@y.org"}]}),
        null.clone(),
    ));
    s += &ev(serde_json::json!({"choices":[{"index":0,"delta":{"content":"a@b.co "},"extra":1}]}));
    s += &ev(serde_json::json!({"choices":[{"index":0,"delta":null}]}));
    s += &ev(serde_json::json!({"choices":[{"index":"0","delta":{"content":"z@y.io "}}]}));
    s += &ev(
        serde_json::json!({"object":"text_completion","choices":[{"index":0,"text":"card 4111 1111","logprobs":{"tokens":["4111"]}}]}),
    );
    s += &ev(
        serde_json::json!({"object":"text_completion","choices":[{"index":0,"text":" 1111 1111 ok","finish_reason":"stop"}]}),
    );
    s += "data: [DONE]\n\n";
    streams.push(s);

    let r = default_redactor();
    let p = all(&r);
    for body in &streams {
        for size in [1, 7, 64, body.len()] {
            let run = |observed: bool| {
                let mut w = r.stream(p, StreamKind::Sse);
                let mut c = Counts::default();
                let mut out = Vec::new();
                let mut events = 0;
                for piece in body.as_bytes().chunks(size) {
                    out.extend(if observed {
                        w.push_observed(piece, &mut c, &mut |_| events += 1)
                    } else {
                        w.push(piece, &mut c)
                    });
                }
                out.extend(if observed {
                    w.finish_observed(&mut c, &mut |_| events += 1)
                } else {
                    w.finish(&mut c)
                });
                (String::from_utf8(out).unwrap(), c)
            };
            let (light, c_light) = run(false);
            let (value, c_value) = run(true);
            assert_eq!(light, value, "chunks of {size}");
            assert_eq!(c_light, c_value, "chunks of {size}");
            for secret in [
                "john@example.com",
                "4111 1111 1111 1111",
                "536-22-4117",
                "sk-abcdefghij",
            ] {
                assert!(!light.contains(secret), "{secret} in {light}");
            }
        }
    }
}

/// Random chat streams: plain chunks (the one-walk path, `chunk::scan`),
/// chunks only the light parse takes, and chunks only the `Value` path
/// takes, mixed; every text piece drawn from PII, escapes, unicode and
/// prose. `push` (one walk or light parse) must equal `push_observed` (the
/// `Value` path) byte for byte and count for count, in random chunkings.
#[test]
fn plain_chat_chunks_redact_exactly_like_the_value_path_on_random_streams() {
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
            v[self.below(v.len())]
        }
    }
    const PIECES: &[&str] = &[
        "Sure, ",
        "mail jo",
        "hn@exam",
        "ple.com ",
        "card 4111 ",
        "1111 1111 1111",
        " call +1 415 555 0100.",
        "ssn 536-22-4117 ",
        "key sk-abcdefghijklmnopqrstuvwxyz012345 ",
        "password: \"correct horse\" ",
        "line\nbreak\ttab \"q\" back\\slash ",
        "h\u{e9}llo \u{1F600} w\u{f6}rld ",
        "\u{ff14}\u{ff11}\u{ff11}\u{ff11} full width ",
        "nbsp\u{a0}4111\u{a0}1111\u{a0}1111\u{a0}1111 ",
        "",
        "/ slash ",
        "\u{1} ctl ",
        "IBAN DE89 3704 0044 0532 0130 00 ",
        "ip 10.1.2.3 and ",
    ];
    let text = |rng: &mut Rng| -> serde_json::Value {
        let n = 1 + rng.below(3);
        let s: String = (0..n).map(|_| rng.pick(PIECES)).collect();
        serde_json::Value::String(s)
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let r = default_redactor();
    let custom = redactor_from(r#"{"custom": [{"name": "WORD", "pattern": "finish_reason"}]}"#);
    for round in 0..300 {
        let mut body = String::new();
        let crlf = rng.below(4) == 0;
        let n = 4 + rng.below(12);
        for _ in 0..n {
            let choices = 1 + usize::from(rng.below(4) == 0);
            let mut cs = Vec::new();
            for k in 0..choices {
                let mut delta = serde_json::Map::new();
                if rng.below(6) == 0 {
                    delta.insert("role".into(), "assistant".into());
                }
                for f in ["content", "refusal", "reasoning_content", "reasoning"] {
                    match rng.below(8) {
                        0..=2 if f == "content" => {
                            delta.insert(f.into(), text(&mut rng));
                        }
                        3 if f == "content" => {
                            delta.insert(f.into(), serde_json::Value::Null);
                        }
                        0 if f != "content" => {
                            delta.insert(f.into(), text(&mut rng));
                        }
                        _ => {}
                    }
                }
                match rng.below(30) {
                    0 => {
                        delta.insert(
                            "tool_calls".into(),
                            serde_json::json!([{"index":0,"function":{"arguments":text(&mut rng)}}]),
                        );
                    }
                    1 => {
                        delta.insert(
                            "content".into(),
                            serde_json::json!([{"type":"text","text":text(&mut rng)}]),
                        );
                    }
                    _ => {}
                }
                let mut c = serde_json::Map::new();
                if rng.below(8) != 0 {
                    c.insert("index".into(), ((k + rng.below(2)) as u64).into());
                }
                if rng.below(10) != 0 {
                    c.insert("delta".into(), serde_json::Value::Object(delta));
                }
                if rng.below(3) == 0 {
                    c.insert("logprobs".into(), serde_json::Value::Null);
                }
                match rng.below(12) {
                    0 => c.insert("finish_reason".into(), "stop".into()),
                    1..=6 => c.insert("finish_reason".into(), serde_json::Value::Null),
                    _ => None,
                };
                cs.push(serde_json::Value::Object(c));
            }
            let mut ev = serde_json::Map::new();
            if rng.below(10) != 0 {
                ev.insert("id".into(), "c1".into());
                ev.insert("object".into(), "chat.completion.chunk".into());
                ev.insert("created".into(), (1 + rng.below(2) as u64).into());
                ev.insert("model".into(), rng.pick(&["m", "m2", "m\"q"]).into());
            }
            match rng.below(8) {
                0 => {
                    ev.insert("system_fingerprint".into(), serde_json::Value::Null);
                }
                1 => {
                    ev.insert("service_tier".into(), "default".into());
                }
                2 => {
                    ev.insert("usage".into(), serde_json::Value::Null);
                }
                _ => {}
            }
            ev.insert("choices".into(), serde_json::Value::Array(cs));
            let json = serde_json::Value::Object(ev).to_string();
            // Escaped unicode and spaces the serializer would not write.
            let json = match rng.below(5) {
                0 => json.replace('\u{e9}', "\\u00e9").replace(':', " : "),
                1 => json.replace(',', ",\n "),
                _ => json,
            };
            let nl = if crlf { "\r\n" } else { "\n" };
            let sep = if rng.below(3) == 0 { "data:" } else { "data: " };
            // Multi-line data: one JSON value across `data:` lines.
            let data: Vec<&str> = json.split('\n').collect();
            for line in data {
                body += sep;
                body += line;
                body += nl;
            }
            body += nl;
        }
        body += "data: [DONE]\n\n";
        for red in [&r, &custom] {
            let p = all(red);
            let size = 1 + rng.below(body.len());
            let run = |observed: bool| {
                let mut w = red.stream(p, StreamKind::Sse);
                let mut c = Counts::default();
                let mut out = Vec::new();
                for piece in body.as_bytes().chunks(size) {
                    out.extend(if observed {
                        w.push_observed(piece, &mut c, &mut |_| {})
                    } else {
                        w.push(piece, &mut c)
                    });
                }
                out.extend(if observed {
                    w.finish_observed(&mut c, &mut |_| {})
                } else {
                    w.finish(&mut c)
                });
                (String::from_utf8(out).unwrap(), c)
            };
            let (fast, c_fast) = run(false);
            let (value, c_value) = run(true);
            assert_eq!(fast, value, "round {round}, chunks of {size}:\n{body}");
            assert_eq!(c_fast, c_value, "round {round}, chunks of {size}");
        }
    }
}

/// Pieces that need no detection (`stream::quiet`) are released by their
/// hold point alone; under `cfg(test)` every such release is also run
/// through the full scan and must leave the same output and window state
/// (an assertion inside `TextWindow::release`). Random texts of words that
/// grow into secrets, keywords, numbers and prose, in random pieces, with
/// the default window and a small one (its cap forces releases).
#[test]
fn quiet_pieces_release_exactly_what_a_full_scan_releases() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    const WORDS: &[&str] = &[
        "the ",
        "quick ",
        "brown ",
        "fox ",
        "jumps. ",
        "Bearer ",
        "bearer ",
        "password ",
        "is ",
        "\"correct ",
        "horse\" ",
        "token ",
        "sk-",
        "abcdefghij",
        "klmnopqrstu",
        "vwxyz0123456789 ",
        "ghp_",
        "AKIA",
        "eyJhbGciOi",
        "-----BEGIN ",
        "PRIVATE ",
        "KEY-----",
        "john",
        ".doe",
        "@",
        "example",
        ".com ",
        "4111 ",
        "1111 ",
        "call ",
        "phone ",
        "+1 ",
        "415 ",
        "555 ",
        "0100 ",
        "GB82 ",
        "WEST ",
        "1234 ",
        "5698 ",
        "7654 ",
        "32 ",
        ", ",
        "(",
        ")",
        "x",
        "y",
        "internationalization ",
        "- ",
        "/ ",
        "~",
    ];
    let small = redactor_from(r#"{"window_bytes": 64}"#);
    let default = default_redactor();
    for round in 0..400 {
        let n = 5 + next(40);
        let text: String = (0..n).map(|_| WORDS[next(WORDS.len())]).collect();
        for r in [&default, &small] {
            let p = all(r);
            let mut w = r.stream(p, StreamKind::Text);
            let mut c = Counts::default();
            let mut out = Vec::new();
            let bytes = text.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                let k = (1 + next(12)).min(bytes.len() - i);
                out.extend(w.push(&bytes[i..i + k], &mut c));
                i += k;
            }
            out.extend(w.finish(&mut c));
            if std::ptr::eq(r, &default) {
                // With room to hold, pieces redact like the whole text.
                let whole = r.redact_text(p, &text, &mut Counts::default());
                assert_eq!(String::from_utf8(out).unwrap(), whole, "round {round}");
            }
        }
    }
}

/// Strings nested under a top-level key of a chat chunk that is not
/// `choices` are redacted whole (the envelope's own scalars are kept), on
/// the light path and the `Value` path alike.
#[test]
fn strings_under_unknown_top_level_keys_of_a_chat_chunk_are_redacted() {
    let r = default_redactor();
    let body = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi \"}}],\"x\":{\"y\":\"mail john@example.com\"}}\n\n";
    for observed in [false, true] {
        let mut w = r.stream(all(&r), StreamKind::Sse);
        let mut c = Counts::default();
        let mut out = if observed {
            w.push_observed(body.as_bytes(), &mut c, &mut |_| {})
        } else {
            w.push(body.as_bytes(), &mut c)
        };
        out.extend(w.finish(&mut c));
        let out = String::from_utf8(out).unwrap();
        assert!(!out.contains("john@example.com"), "{out}");
        assert!(
            out.contains(r#""x":{"y":"mail [REDACTED:EMAIL]"}"#),
            "{out}"
        );
        assert!(out.contains(r#""id":"c""#), "{out}");
        assert_eq!(c.get("EMAIL"), 1);
    }
}
