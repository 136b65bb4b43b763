//! Parse trees, compared in BuildKit's dump format with what BuildKit's parser gives for the
//! same text (cases modelled on `frontend/dockerfile/parser/testfiles` and `parser_test.go`).

use super::{dump, parse_lines};

fn trees(src: &str) -> Vec<String> {
    parse_lines("Dockerfile", src)
        .expect("parses")
        .nodes
        .iter()
        .map(dump)
        .collect()
}

fn err(src: &str) -> String {
    match parse_lines("Dockerfile", src) {
        Ok(_) => panic!("{src:?} should not parse"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn forms_per_keyword() {
    let cases: &[(&str, &str)] = &[
        ("FROM\talpine:3.20", r#"(from "alpine:3.20")"#),
        ("from a AS b", r#"(from "a" "AS" "b")"#),
        (
            "FROM --platform=$BUILDPLATFORM a",
            r#"(from ["--platform=$BUILDPLATFORM"] "a")"#,
        ),
        ("RUN echo  hi", r#"(run "echo  hi")"#),
        (r#"RUN ["echo", "hi"]"#, r#"(run "echo" "hi")"#),
        // Not valid JSON: the shell form, whole.
        (r#"RUN ["echo", hi]"#, r#"(run "[\"echo\", hi]")"#),
        (r#"CMD [ "a" ] trailing"#, r#"(cmd "[ \"a\" ] trailing")"#),
        (r#"CMD []"#, r#"(cmd)"#),
        ("ADD a b   c/", r#"(add "a" "b" "c/")"#),
        (r#"COPY ["a b", "c"]"#, r#"(copy "a b" "c")"#),
        ("VOLUME /a /b", r#"(volume "/a" "/b")"#),
        (r#"VOLUME ["/a"]"#, r#"(volume "/a")"#),
        ("EXPOSE 80 443/udp", r#"(expose "80" "443/udp")"#),
        ("USER  app:app", r#"(user "app:app")"#),
        ("WORKDIR /my dir", r#"(workdir "/my dir")"#),
        (
            "MAINTAINER Jane Doe <j@d>",
            r#"(maintainer "Jane Doe <j@d>")"#,
        ),
        ("STOPSIGNAL SIGKILL", r#"(stopsignal "SIGKILL")"#),
        ("ENV PATH /x:$PATH", r#"(env "PATH" "/x:$PATH")"#),
        (
            "ENV A=1 B=\"two words\" C='3'",
            r#"(env "A" "1" "B" "\"two words\"" "C" "'3'")"#,
        ),
        (r"ENV A=a\ b", r#"(env "A" "a\\ b")"#),
        (
            "LABEL maintainer Jane <j@d> (x)",
            r#"(label "maintainer" "Jane <j@d> (x)")"#,
        ),
        (
            r#"LABEL "com.x"="y" z=1"#,
            r#"(label "\"com.x\"" "\"y\"" "z" "1")"#,
        ),
        ("ARG A B=2 C=\"x y\"", r#"(arg "A" "B=2" "C=\"x y\"")"#),
        ("HEALTHCHECK", "(healthcheck)"),
        ("HEALTHCHECK NONE", r#"(healthcheck "NONE")"#),
        ("HEALTHCHECK   CMD   a b", r#"(healthcheck "CMD" "a b")"#),
        (
            r#"HEALTHCHECK --timeout=3s CMD ["probe"]"#,
            r#"(healthcheck ["--timeout=3s"] "CMD" "probe")"#,
        ),
        (
            "HEALTHCHECK CONNECT TCP 7000",
            r#"(healthcheck "CONNECT" "TCP 7000")"#,
        ),
        (
            r#"SHELL ["/bin/bash", "-c"]"#,
            r#"(shell "/bin/bash" "-c")"#,
        ),
        ("ONBUILD RUN echo x", r#"(onbuild (run "echo x"))"#),
        ("ONBUILD ADD . /app", r#"(onbuild (add "." "/app"))"#),
        (
            "RUN --mount=type=cache,target=/c --network=none make",
            r#"(run ["--mount=type=cache,target=/c" "--network=none"] "make")"#,
        ),
        // Quoted flag values are unquoted; a lone `--` ends the flags.
        (
            r#"COPY --chown="a b" x y"#,
            r#"(copy ["--chown=a b"] "x" "y")"#,
        ),
        ("RUN -- --not-a-flag", r#"(run " --not-a-flag")"#),
        // Unknown keywords keep no arguments: the typing step refuses them.
        ("FORM alpine", "(form)"),
    ];
    for (src, want) in cases {
        assert_eq!(trees(src), vec![want.to_string()], "for {src:?}");
    }
}

#[test]
fn json_array_of_non_strings_is_an_error() {
    assert!(err("FROM a\nCMD [1, 2]\n").ends_with(
        "Dockerfile:2:1: when using JSON array syntax, arrays must be comprised of strings only"
    ));
}

#[test]
fn continuations_comments_and_blank_lines() {
    // A continuation keeps the next line's leading whitespace; comment lines and empty lines
    // inside it are skipped; a trailing blank after the escape still continues.
    let src = "FROM a\n\
               RUN apt-get install -y \\\n\
               \tcurl \\\n\
               # a comment inside\n\
                   \\  \n\
               \n\
               \tgit\n\
               # final\n\
               \x20  CMD x\n";
    assert_eq!(
        trees(src),
        vec![
            r#"(from "a")"#.to_owned(),
            r#"(run "apt-get install -y \tcurl \tgit")"#.to_owned(),
            r#"(cmd "x")"#.to_owned(),
        ]
    );
    let lines = parse_lines("Dockerfile", src).expect("parses");
    assert_eq!(lines.nodes[1].span.start_line, 2);
    assert_eq!(lines.nodes[1].span.end_line, 7);
    assert_eq!(lines.nodes[2].span.start_line, 9);
    assert_eq!(lines.nodes[2].span.column, 4);
    assert_eq!(lines.warnings.len(), 1, "{:?}", lines.warnings);
}

#[test]
fn crlf_and_bom() {
    assert_eq!(
        trees("\u{FEFF}FROM a\r\nRUN x \\\r\n y\r\n"),
        vec![r#"(from "a")"#, r#"(run "x  y")"#]
    );
}

#[test]
fn escape_directive_backtick() {
    let src = "# escape=`\nFROM windows\nRUN dir `\n  c:\\\nWORKDIR c:\\\n";
    let lines = parse_lines("Dockerfile", src).expect("parses");
    assert_eq!(lines.directives.escape, '`');
    let t: Vec<String> = lines.nodes.iter().map(dump).collect();
    assert_eq!(
        t,
        vec![
            r#"(from "windows")"#,
            r#"(run "dir   c:\\")"#,
            r#"(workdir "c:\\")"#
        ]
    );
}

#[test]
fn directives_only_at_the_top() {
    let src = "# syntax=docker/dockerfile:1.7\n#check=skip=all\n# ESCAPE = `\nFROM a\n";
    let d = parse_lines("Dockerfile", src).expect("parses").directives;
    assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1.7"));
    assert_eq!(d.check.as_deref(), Some("skip=all"));
    assert_eq!(d.escape, '`');

    // After a comment, an empty line or an instruction, `# escape=` is a comment.
    for src in [
        "# hello\n# escape=`\nFROM a\n",
        "\n# escape=`\nFROM a\n",
        "FROM a\n# escape=`\n",
        "# unknowndirective=x\n# escape=`\nFROM a\n",
    ] {
        let d = parse_lines("Dockerfile", src).expect("parses").directives;
        assert_eq!(d.escape, '\\', "for {src:?}");
    }
}

#[test]
fn directive_errors() {
    assert_eq!(
        err("# escape=x\nFROM a\n"),
        "Dockerfile:1:1: invalid escape token 'x' does not match ` or \\"
    );
    assert_eq!(
        err("# escape=\\\n# escape=`\nFROM a\n"),
        "Dockerfile:2:1: only one escape parser directive can be used"
    );
    assert_eq!(
        err("# syntax=a\n# Syntax=b\nFROM a\n"),
        "Dockerfile:2:1: only one syntax parser directive can be used"
    );
}

#[test]
fn empty_files() {
    for src in ["", "\n\n", "# only a comment\n", "# escape=`\n\n"] {
        assert!(
            err(src).ends_with("file with no instructions"),
            "for {src:?}"
        );
    }
}

#[test]
fn heredocs() {
    let src = "FROM a\n\
               RUN <<EOF\n\
               echo $HOME\n\
               EOF\n\
               RUN <<-EOT bash\n\
               \t\tindented\n\
               \tEOT\n\
               COPY <<one <<\"two\" /dest/\n\
               1\n\
               one\n\
               2 $X\n\
               two\n\
               RUN 3<<'Q' cat <&3 # not a comment\n\
               q\n\
               Q\n\
               RUN [\"cat\", \"<<EOF\"]\n\
               CMD x <<EOF\n";
    let lines = parse_lines("Dockerfile", src).expect("parses");
    let n = &lines.nodes;
    assert_eq!(n.len(), 7);
    assert_eq!(n[1].heredocs.len(), 1);
    assert_eq!(n[1].heredocs[0].name, "EOF");
    assert_eq!(n[1].heredocs[0].content, "echo $HOME\n");
    assert!(n[1].heredocs[0].expand && !n[1].heredocs[0].chomp);
    assert_eq!((n[1].span.start_line, n[1].span.end_line), (2, 4));

    assert!(n[2].heredocs[0].chomp);
    assert_eq!(n[2].heredocs[0].content, "\t\tindented\n");
    assert_eq!(n[2].heredocs[0].body(), "indented\n");

    let names: Vec<(&str, bool)> = n[3]
        .heredocs
        .iter()
        .map(|h| (h.name.as_str(), h.expand))
        .collect();
    assert_eq!(names, vec![("one", true), ("two", false)]);
    assert_eq!(n[3].heredocs[1].content, "2 $X\n");
    assert_eq!((n[3].span.start_line, n[3].span.end_line), (8, 12));

    assert_eq!(n[4].heredocs[0].fd, 3);
    assert_eq!(n[4].heredocs[0].name, "Q");
    assert!(!n[4].heredocs[0].expand);
    // The exec form and other keywords have no heredocs.
    assert!(n[5].heredocs.is_empty() && n[6].heredocs.is_empty());
}

#[test]
fn heredoc_behind_onbuild_and_unterminated() {
    let lines = parse_lines("Dockerfile", "FROM a\nONBUILD RUN <<X\nhi\nX\n").expect("parses");
    assert_eq!(lines.nodes[1].heredocs[0].content, "hi\n");
    assert_eq!(
        err("FROM a\nRUN <<EOF\necho\n"),
        "Dockerfile:2:1: unterminated heredoc"
    );
}

#[test]
fn env_and_label_errors() {
    assert_eq!(
        err("FROM a\nENV A\n"),
        "Dockerfile:2:1: ENV must have two arguments"
    );
    assert_eq!(
        err("FROM a\nLABEL a=b c\n"),
        "Dockerfile:2:1: Syntax error - can't find = in \"c\". Must be of the form: name=value"
    );
}

#[test]
fn tabs_as_separators_and_in_continuations() {
    // As in BuildKit's testfiles/docker: tabs separate keyword and arguments, the legacy
    // `ENV k v` form splits at the first whitespace run, continuation lines keep their tabs.
    let src = "FROM\tdebian:12\n\
               LABEL\tmaintainer\tJane Roe <jr@example.org> (@jr)\n\
               ENV\tPLATFORMS\t\\\n\
               \tlinux/amd64 linux/arm64 \\\n\
               \tdarwin/arm64\n\
               RUN\t/bin/echo -e 'a\\nb' > /x\n";
    assert_eq!(
        trees(src),
        vec![
            r#"(from "debian:12")"#,
            r#"(label "maintainer" "Jane Roe <jr@example.org> (@jr)")"#,
            r#"(env "PLATFORMS" "linux/amd64 linux/arm64 \tdarwin/arm64")"#,
            r#"(run "/bin/echo -e 'a\\nb' > /x")"#,
        ]
    );
}
