//! Colours: on when stdout is a terminal and NO_COLOR is unset, unless `--color` says otherwise.

use std::io::IsTerminal;

use owo_colors::OwoColorize;

use crate::flags::ColorChoice;

/// A palette that colours, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    on: bool,
}

impl Palette {
    /// Decides from the flag, the NO_COLOR convention and whether stdout is a terminal.
    pub fn new(choice: ColorChoice) -> Palette {
        let on = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
            }
        };
        Palette { on }
    }

    /// A palette that never colours.
    pub fn plain() -> Palette {
        Palette { on: false }
    }

    /// Whether colours are on.
    pub fn enabled(&self) -> bool {
        self.on
    }

    fn paint(&self, s: &str, f: impl Fn(&str) -> String) -> String {
        if self.on && !s.is_empty() {
            f(s)
        } else {
            s.to_string()
        }
    }

    /// Good state.
    pub fn green(&self, s: &str) -> String {
        self.paint(s, |s| s.green().to_string())
    }
    /// Bad state.
    pub fn red(&self, s: &str) -> String {
        self.paint(s, |s| s.red().to_string())
    }
    /// Unknown or warning.
    pub fn yellow(&self, s: &str) -> String {
        self.paint(s, |s| s.yellow().to_string())
    }
    /// Secondary text (tree lines, hints).
    pub fn grey(&self, s: &str) -> String {
        self.paint(s, |s| s.bright_black().to_string())
    }
    /// Condition type rows.
    pub fn cyan(&self, s: &str) -> String {
        self.paint(s, |s| s.cyan().to_string())
    }
    /// Names.
    pub fn bold(&self, s: &str) -> String {
        self.paint(s, |s| s.bold().to_string())
    }
}

/// The visible width of a string, ignoring ANSI escape sequences.
pub fn visible_width(s: &str) -> usize {
    let mut width = 0;
    let mut in_escape = false;
    for c in s.chars() {
        if in_escape {
            if c.is_ascii_alphabetic() {
                in_escape = false;
            }
        } else if c == '\u{1b}' {
            in_escape = true;
        } else {
            width += 1;
        }
    }
    width
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_ignore_escapes() {
        let p = Palette { on: true };
        let s = p.red("False");
        assert_ne!(s, "False");
        assert_eq!(visible_width(&s), 5);
        assert_eq!(Palette::plain().red("x"), "x");
    }
}
