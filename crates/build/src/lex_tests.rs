//! Expansion as BuildKit's `shell/lex_test.go` checks it (its envVarTest, wordsTest and
//! TestProcessWithMatches cases, re-stated here as tables).

use std::collections::HashMap;

use super::{expands_variables, ExpandErrorReason as R, Lexer};

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn word(src: &str, e: &HashMap<String, String>) -> Result<String, R> {
    Lexer::new('\\')
        .expand_word(src, e)
        .map_err(|err| err.reason)
}

#[test]
fn words_and_quotes() {
    let e = env(&[
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ]);
    let ok: &[(&str, &str)] = &[
        ("hello", "hello"),
        ("he'll'o", "hello"),
        ("he'llo", "ERR"),
        (r"he\'llo", "he'llo"),
        (r"he\\'llo", "ERR"),
        ("abc\\", "abc"),
        ("abc\\\\", "abc\\"),
        ("\"hello\"", "hello"),
        ("\"hello", "ERR"),
        ("\"he'llo\"", "he'llo"),
        (r#""hel\"lo""#, "hel\"lo"),
        (r#""hel\\lo""#, "hel\\lo"),
        (r#""hel\lo""#, "hel\\lo"),
        ("'hel\\lo'", "hel\\lo"),
        ("'$PWD'", "$PWD"),
        ("\"$PWD\"", "/home"),
        ("\"\\$PWD\"", "$PWD"),
        ("$PWD", "/home"),
        ("\\$PWD", "$PWD"),
        ("\\\\$PWD", "\\/home"),
        ("${PWD}", "/home"),
        ("${PWD}x", "/homex"),
        ("$PWDx", ""),
        ("${KOREAN}", "한국어"),
        ("$1", ""),
        ("$123abc", "abc"),
        ("$@x", "x"),
        ("$", "$"),
        ("$ x", "$ x"),
        ("$.", "$."),
        ("${}", "ERR"),
        ("${", "ERR"),
        ("${:x}", "ERR"),
        ("${{x}", "ERR"),
        ("${PWD", "ERR"),
        ("${PWD:}", "ERR"),
        ("${PWD:=x}", "ERR"),
        ("${PWD=x}", "ERR"),
        ("${PWD:-x}", "/home"),
        ("${UNSET:-x}", "x"),
        ("${NULL:-x}", "x"),
        ("${NULL-x}", ""),
        ("${UNSET-x}", "x"),
        ("${PWD:+x}", "x"),
        ("${NULL:+x}", ""),
        ("${NULL+x}", "x"),
        ("${UNSET+x}", ""),
        ("${UNSET:-${PWD}}", "/home"),
        ("${UNSET:-'a b'}", "a b"),
        ("${UNSET:-\"a}\"}", "a}"),
        ("x${UNSET:-a\\}b}y", "xa}by"),
        ("${PWD:?x}", "/home"),
    ];
    for (src, want) in ok {
        let got = word(src, &e);
        match *want {
            "ERR" => assert!(got.is_err(), "{src:?} should fail, got {got:?}"),
            w => assert_eq!(got.as_deref(), Ok(w), "for {src:?}"),
        }
    }
}

#[test]
fn required_variables() {
    let set = env(&[("VAR", "plain"), ("ARG", "x")]);
    let empty = env(&[("VAR", ""), ("ARG", "x")]);
    let unset = env(&[("ARG", "x")]);
    let no_empty = "${VAR:?message here$ARG}";
    let no_unset = "${VAR?message here$ARG}";
    assert_eq!(word(no_empty, &set).as_deref(), Ok("plain"));
    let msg = R::Required {
        name: "VAR".into(),
        message: "message herex".into(),
    };
    assert_eq!(word(no_empty, &empty), Err(msg.clone()));
    assert_eq!(word(no_empty, &unset), Err(msg.clone()));
    assert_eq!(word(no_unset, &set).as_deref(), Ok("plain"));
    assert_eq!(word(no_unset, &empty).as_deref(), Ok(""));
    assert_eq!(word(no_unset, &unset), Err(msg));
    assert_eq!(
        word("${VAR:?}", &empty).map_err(|e| e.to_string()),
        Err("VAR: is not allowed to be empty".to_owned())
    );
    assert_eq!(
        word("${VAR?}", &unset).map_err(|e| e.to_string()),
        Err("VAR: is not allowed to be unset".to_owned())
    );
}

#[test]
fn modifiers_and_patterns() {
    type Vars = &'static [(&'static str, &'static str)];
    let cases: &[(&str, Vars, &str)] = &[
        ("${A-1} ${B-2} ${C-3}", &[("A", "a"), ("B", "")], "a  3"),
        ("${A:-1} ${B:-2} ${C:-3}", &[("A", "a"), ("B", "")], "a 2 3"),
        ("${A+1} ${B+2} ${C+3}", &[("A", "a"), ("B", "")], "1 2 "),
        ("${A:+1} ${B:+2} ${C:+3}", &[("A", "a"), ("B", "")], "1  "),
        ("${A:-}", &[("A", "a")], "a"),
        ("${V#*.}", &[("V", "a.b.c")], "b.c"),
        ("${V##*.}", &[("V", "a.b.c")], "c"),
        ("${V%.*}", &[("V", "a.b.c")], "a.b"),
        ("${V%%.*}", &[("V", "a.b.c")], "a"),
        ("${V#*}", &[("V", "abc")], "abc"),
        ("${V#}", &[("V", "abc")], "abc"),
        ("${V##}", &[("V", "abc")], "abc"),
        ("${V%}", &[("V", "abc")], "abc"),
        ("${V#?\\?}", &[("V", "a??z")], "?z"),
        ("${V%%\\**}", &[("V", "ab**")], "ab"),
        ("${V%%\\**\\*}", &[("V", "q***zz*")], "q"),
        ("${V#*p*q}", &[("V", "ppqq")], "q"),
        ("${V#$P}", &[("V", "ppqq"), ("P", "p")], "pqq"),
        ("${V#$P}", &[("V", "ppqq"), ("P", "")], "ppqq"),
        ("${Z:-.}${V%x}${Z:-.}", &[("V", "xxyy")], ".xxyy."),
        (r"${V#()[]{\}^$.\*\?|\\}", &[("V", r"()[]{}^$.*?|\z")], "z"),
        (
            "${V/$N/.} - ${V//$N/.}",
            &[("V", "/d*/*/*.md"), ("N", r"\*/")],
            "/d.*/*.md - /d..*.md",
        ),
        (
            "${V/$N/} - ${V//$N/}",
            &[("V", "/var/var/f"), ("N", "/var")],
            "/var/f - /f",
        ),
        (
            "${V/$N/$R} - ${V//$N/$R}",
            &[("V", "/a/b/c/d"), ("N", "/?/"), ("R", "/")],
            "/b/c/d - /b/d",
        ),
        (
            "${V/$N/$R}",
            &[("V", "http://x.org"), ("N", "http://"), ("R", "https://")],
            "https://x.org",
        ),
        (r"${V//\//\/}", &[("V", "/t/f")], r"\/t\/f"),
        ("${V/$P/ww}", &[("V", "xy"), ("P", "")], "wwxy"),
        ("${V///}", &[("V", "xy")], "xy"),
        ("${V///}", &[], ""),
        (
            "a-${OS}-${ARCH}${VAR:+-${VAR}}.tgz",
            &[("OS", "linux"), ("ARCH", "arm"), ("VAR", "v7")],
            "a-linux-arm-v7.tgz",
        ),
        (
            "a-${OS}-${ARCH}${VAR:+-${VAR}}.tgz",
            &[("OS", "linux"), ("ARCH", "amd64")],
            "a-linux-amd64.tgz",
        ),
    ];
    for (src, vars, want) in cases {
        assert_eq!(word(src, &env(vars)).as_deref(), Ok(*want), "for {src:?}");
    }
    for (src, vars) in [
        ("${V//ww}", &[("V", "xy")][..]),
        ("${V//}", &[("V", "xy")]),
        ("${V=x}", &[("V", "xy")]),
        ("${V=:x}", &[("V", "xy")]),
        ("${V=}", &[]),
        ("${V#\\x}", &[("V", "xy")]),
    ] {
        assert!(word(src, &env(vars)).is_err(), "{src:?} should fail");
    }
}

#[test]
fn error_messages() {
    let e = env(&[]);
    let msg = |s: &str| {
        Lexer::new('\\')
            .expand_word(s, &e)
            .expect_err("fails")
            .to_string()
    };
    assert_eq!(
        msg("${a"),
        "failed to process \"${a\": syntax error: missing '}'"
    );
    assert_eq!(
        msg("${}"),
        "failed to process \"${}\": syntax error: bad substitution"
    );
    assert_eq!(
        msg("${a:x}"),
        "failed to process \"${a:x}\": unsupported modifier (:x) in substitution"
    );
    assert_eq!(
        msg("'a"),
        "failed to process \"'a\": unexpected end of statement while looking for matching single-quote"
    );
}

#[test]
fn words_split_after_expansion() {
    let e = env(&[("A", "x y"), ("E", "")]);
    let cases: &[(&str, &[&str])] = &[
        ("hello", &["hello"]),
        ("hello world", &["hello", "world"]),
        ("  hello   world  ", &["hello", "world"]),
        ("'hello world'", &["hello world"]),
        ("\"hello world\" x", &["hello world", "x"]),
        ("hello\\ world", &["hello world"]),
        ("$A", &["x", "y"]),
        ("\"$A\"", &["x y"]),
        ("a$E b", &["a", "b"]),
        ("$E", &[]),
        ("''", &[]),
        ("a'' b", &["a", "b"]),
    ];
    for (src, want) in cases {
        let got = Lexer::new('\\').expand_words(src, &e).expect("expands");
        assert_eq!(&got, want, "for {src:?}");
    }
}

#[test]
fn raw_modes_and_skip_unset() {
    let e = env(&[("SET", "v")]);
    let mut lex = Lexer::new('\\');
    lex.raw_quotes = true;
    lex.skip_unset_env = true;
    let w = |l: &Lexer, s: &str| l.expand_words(s, &e).expect("expands");
    assert_eq!(
        w(&lex, "\"a b\" $SET $UNSET"),
        vec!["\"a b\"", "v", "$UNSET"]
    );
    assert_eq!(
        w(&lex, "${UNSET:-x} ${UNSET}"),
        vec!["${UNSET:-x}", "${UNSET}"]
    );
    lex.raw_escapes = true;
    assert_eq!(w(&lex, "a\\ b"), vec!["a\\ b"]);
}

#[test]
fn backtick_escape() {
    let e = env(&[("A", "1")]);
    let lex = Lexer::new('`');
    assert_eq!(
        lex.expand_word("c:\\dir `$A $A", &e).as_deref(),
        Ok("c:\\dir $A 1")
    );
}

#[test]
fn which_instructions_expand() {
    for i in [
        "ADD",
        "copy",
        "ENV",
        "ARG",
        "LABEL",
        "USER",
        "WORKDIR",
        "VOLUME",
        "EXPOSE",
        "STOPSIGNAL",
    ] {
        assert!(expands_variables(i), "{i}");
    }
    for i in [
        "RUN",
        "CMD",
        "ENTRYPOINT",
        "SHELL",
        "HEALTHCHECK",
        "ONBUILD",
        "MAINTAINER",
    ] {
        assert!(!expands_variables(i), "{i}");
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowing() {
    let e = env(&[]);
    let deep = format!("{}x{}", "${A:-".repeat(10_000), "}".repeat(10_000));
    assert_eq!(word(&deep, &e), Err(R::TooDeep));
    let fine = format!("{}x{}", "${A:-".repeat(32), "}".repeat(32));
    assert_eq!(word(&fine, &e).as_deref(), Ok("x"));
}
