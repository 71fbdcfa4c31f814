//! The template language of summaries and fix steps: `{name}` values and `[optional
//! sections]` that vanish when a value inside them is missing.

/// A piece of a [`Template`].
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Text(String),
    Value(String),
    Optional(Vec<Segment>),
}

/// A text with `{name}` values and `[optional sections]` that vanish when a value inside is
/// missing. `{{`, `}}`, `[[` and `]]` stand for literal braces and brackets.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    segments: Vec<Segment>,
}

impl Template {
    /// Parses a template.
    ///
    /// # Errors
    ///
    /// A message naming the problem: an unclosed `{` or `[`, or a stray `]` or `}`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut stack: Vec<Vec<Segment>> = vec![Vec::new()];
        let mut chars = text.chars().peekable();
        let mut literal = String::new();
        fn flush(literal: &mut String, stack: &mut [Vec<Segment>]) {
            if !literal.is_empty()
                && let Some(top) = stack.last_mut()
            {
                top.push(Segment::Text(std::mem::take(literal)));
            }
        }
        while let Some(c) = chars.next() {
            match c {
                '{' | '}' | '[' | ']' if chars.peek() == Some(&c) => {
                    chars.next();
                    literal.push(c);
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(n) if n.is_ascii_alphanumeric() || n == '_' => name.push(n),
                            _ => return Err(format!("unclosed or invalid {{value}} in template `{text}`")),
                        }
                    }
                    flush(&mut literal, &mut stack);
                    if let Some(top) = stack.last_mut() {
                        top.push(Segment::Value(name));
                    }
                }
                '[' => {
                    flush(&mut literal, &mut stack);
                    stack.push(Vec::new());
                }
                ']' => {
                    flush(&mut literal, &mut stack);
                    if stack.len() < 2 {
                        return Err(format!("stray `]` in template `{text}` (write `]]` for a bracket)"));
                    }
                    let inner = stack.pop().unwrap_or_default();
                    if let Some(top) = stack.last_mut() {
                        top.push(Segment::Optional(inner));
                    }
                }
                '}' => return Err(format!("stray `}}` in template `{text}` (write `}}}}` for a brace)")),
                other => literal.push(other),
            }
        }
        flush(&mut literal, &mut stack);
        if stack.len() != 1 {
            return Err(format!("unclosed `[` in template `{text}`"));
        }
        Ok(Self { segments: stack.pop().unwrap_or_default() })
    }

    /// The value names the template uses.
    pub fn names(&self) -> Vec<&str> {
        fn walk<'a>(segments: &'a [Segment], out: &mut Vec<&'a str>) {
            for segment in segments {
                match segment {
                    Segment::Text(_) => {}
                    Segment::Value(name) => out.push(name),
                    Segment::Optional(inner) => walk(inner, out),
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.segments, &mut out);
        out
    }

    /// Renders the template; `None` when a value outside every optional section is missing.
    pub fn render(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        fn walk(segments: &[Segment], lookup: &dyn Fn(&str) -> Option<String>, out: &mut String) -> bool {
            for segment in segments {
                match segment {
                    Segment::Text(text) => out.push_str(text),
                    Segment::Value(name) => match lookup(name) {
                        Some(value) => out.push_str(&value),
                        None => return false,
                    },
                    Segment::Optional(inner) => {
                        let mut section = String::new();
                        if walk(inner, lookup, &mut section) {
                            out.push_str(&section);
                        }
                    }
                }
            }
            true
        }
        let mut out = String::new();
        walk(&self.segments, lookup, &mut out).then_some(out)
    }
}
