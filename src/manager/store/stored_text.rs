//! Enums the store keeps as fixed text (task types, run statuses, stages): the `text_enum!`
//! macro that defines one, and the error of an unknown name.

/// The text given by [`FromStr`](std::str::FromStr) of the store's enums when a name is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownName {
    /// The enum, e.g. `run status`.
    pub kind: &'static str,
    /// The text that was refused.
    pub value: String,
}

/// Defines a fieldless enum stored as fixed text, with `ALL` (in declaration order), `as_str`,
/// `Display`, `FromStr` and serde through the text.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal, { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::manager::store::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| $crate::manager::store::UnknownName { kind: $kind, value: s.to_owned() })
            }
        }

        $crate::format::location::serde_as_string!($name, $kind);
    };
}

pub(crate) use text_enum;
