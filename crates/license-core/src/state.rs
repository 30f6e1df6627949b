//! The license state machine of SPEC §4: which action moves a license from which state to which.
//!
//! Every lifecycle change in Keysmith asks [`transition`] first; a refused transition is an
//! [`InvalidTransition`] and must change nothing.

use serde::{Deserialize, Serialize};

/// The state of a license.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LicenseStatus {
    /// Minted, not yet assigned to a customer; cannot be activated.
    Available,
    /// Assigned to a customer, never activated.
    Assigned,
    /// Activated at least once and in good standing.
    Active,
    /// Paused by an operator (temporary).
    Inactive,
    /// Suspended by an operator or by abuse detection.
    Suspended,
    /// Past `expires_at` plus the grace period.
    Expired,
    /// Terminal: revoked by an operator.
    Revoked,
    /// Terminal: replaced by a new license with a new key.
    Reminted,
}

impl LicenseStatus {
    /// Every state, in lifecycle order (the order status sorts in).
    pub const ALL: [LicenseStatus; 8] = [
        Self::Available,
        Self::Assigned,
        Self::Active,
        Self::Inactive,
        Self::Suspended,
        Self::Expired,
        Self::Revoked,
        Self::Reminted,
    ];

    /// The wire name (`"available"`, `"assigned"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::Assigned => "assigned",
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Suspended => "suspended",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::Reminted => "reminted",
        }
    }

    /// Parses a wire name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Position in lifecycle order, for sorting (`available` = 0 ... `reminted` = 7).
    pub const fn lifecycle_rank(self) -> u8 {
        match self {
            Self::Available => 0,
            Self::Assigned => 1,
            Self::Active => 2,
            Self::Inactive => 3,
            Self::Suspended => 4,
            Self::Expired => 5,
            Self::Revoked => 6,
            Self::Reminted => 7,
        }
    }

    /// Revoked and reminted licenses never change again.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Revoked | Self::Reminted)
    }

    /// Whether the license's editable fields (customer, limit, expiry, flags, metadata) may change.
    /// Revoked, reminted and expired licenses are read-only (expired ones may still be revoked
    /// or reminted, which are actions, not edits).
    pub const fn is_editable(self) -> bool {
        match self {
            Self::Available | Self::Assigned | Self::Active | Self::Inactive | Self::Suspended => {
                true
            }
            Self::Expired | Self::Revoked | Self::Reminted => false,
        }
    }
}

impl std::fmt::Display for LicenseStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A lifecycle action on a license.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Give an available license to a customer.
    Assign,
    /// Change the customer of an already assigned license; the state stays.
    ChangeCustomer,
    /// The first activation of an assigned license.
    Activate,
    /// Suspend (manually or by abuse detection).
    Suspend,
    /// Lift a suspension.
    Unsuspend,
    /// Pause an active license.
    Inactivate,
    /// Resume an inactive license.
    Reactivate,
    /// Expire a license past `expires_at` plus grace.
    Expire,
    /// Revoke for ever.
    Revoke,
    /// Replace with a new license and key.
    Remint,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 10] = [
        Self::Assign,
        Self::ChangeCustomer,
        Self::Activate,
        Self::Suspend,
        Self::Unsuspend,
        Self::Inactivate,
        Self::Reactivate,
        Self::Expire,
        Self::Revoke,
        Self::Remint,
    ];

    /// The wire name, as used in audit entries and `INVALID_TRANSITION` errors.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Assign => "assign",
            Self::ChangeCustomer => "change_customer",
            Self::Activate => "activate",
            Self::Suspend => "suspend",
            Self::Unsuspend => "unsuspend",
            Self::Inactivate => "inactivate",
            Self::Reactivate => "reactivate",
            Self::Expire => "expire",
            Self::Revoke => "revoke",
            Self::Remint => "remint",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `action` is not allowed from `from` (SPEC code `INVALID_TRANSITION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} a license that is {from}")]
pub struct InvalidTransition {
    /// The state the license was in.
    pub from: LicenseStatus,
    /// The refused action.
    pub action: Action,
}

/// Applies `action` to a license in state `from` and returns the new state, or the refusal.
///
/// This is the whole table of SPEC §4; nothing else moves a license between states.
pub fn transition(from: LicenseStatus, action: Action) -> Result<LicenseStatus, InvalidTransition> {
    use Action as A;
    use LicenseStatus as S;
    let to = match (from, action) {
        (S::Available, A::Assign) => Some(S::Assigned),
        (S::Assigned | S::Active | S::Inactive | S::Suspended, A::ChangeCustomer) => Some(from),
        (S::Assigned, A::Activate) => Some(S::Active),
        (S::Active, A::Suspend) => Some(S::Suspended),
        (S::Suspended, A::Unsuspend) => Some(S::Active),
        (S::Active, A::Inactivate) => Some(S::Inactive),
        (S::Inactive, A::Reactivate) => Some(S::Active),
        (S::Assigned | S::Active | S::Inactive | S::Suspended, A::Expire) => Some(S::Expired),
        (
            S::Available | S::Assigned | S::Active | S::Inactive | S::Suspended | S::Expired,
            A::Revoke,
        ) => Some(S::Revoked),
        (S::Assigned | S::Active | S::Inactive | S::Suspended | S::Expired, A::Remint) => {
            Some(S::Reminted)
        }
        (
            S::Available
            | S::Assigned
            | S::Active
            | S::Inactive
            | S::Suspended
            | S::Expired
            | S::Revoked
            | S::Reminted,
            A::Assign
            | A::ChangeCustomer
            | A::Activate
            | A::Suspend
            | A::Unsuspend
            | A::Inactivate
            | A::Reactivate
            | A::Expire
            | A::Revoke
            | A::Remint,
        ) => None,
    };
    to.ok_or(InvalidTransition { from, action })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action as A;
    use LicenseStatus as S;
    use proptest::prelude::*;

    /// SPEC §4, written out row by row independently of `transition`'s match.
    const TABLE: &[(S, A, S)] = &[
        (S::Available, A::Assign, S::Assigned),
        (S::Assigned, A::Activate, S::Active),
        (S::Active, A::Suspend, S::Suspended),
        (S::Suspended, A::Unsuspend, S::Active),
        (S::Active, A::Inactivate, S::Inactive),
        (S::Inactive, A::Reactivate, S::Active),
        (S::Assigned, A::Expire, S::Expired),
        (S::Active, A::Expire, S::Expired),
        (S::Inactive, A::Expire, S::Expired),
        (S::Suspended, A::Expire, S::Expired),
        (S::Available, A::Revoke, S::Revoked),
        (S::Assigned, A::Revoke, S::Revoked),
        (S::Active, A::Revoke, S::Revoked),
        (S::Inactive, A::Revoke, S::Revoked),
        (S::Suspended, A::Revoke, S::Revoked),
        (S::Expired, A::Revoke, S::Revoked),
        (S::Assigned, A::Remint, S::Reminted),
        (S::Active, A::Remint, S::Reminted),
        (S::Inactive, A::Remint, S::Reminted),
        (S::Suspended, A::Remint, S::Reminted),
        (S::Expired, A::Remint, S::Reminted),
        (S::Assigned, A::ChangeCustomer, S::Assigned),
        (S::Active, A::ChangeCustomer, S::Active),
        (S::Inactive, A::ChangeCustomer, S::Inactive),
        (S::Suspended, A::ChangeCustomer, S::Suspended),
    ];

    fn table(from: S, action: A) -> Option<S> {
        TABLE
            .iter()
            .find(|(f, a, _)| *f == from && *a == action)
            .map(|(_, _, to)| *to)
    }

    #[test]
    fn every_pair_agrees_with_the_spec_table() {
        for from in S::ALL {
            for action in A::ALL {
                match table(from, action) {
                    Some(to) => assert_eq!(transition(from, action), Ok(to), "{from} {action}"),
                    None => assert_eq!(
                        transition(from, action),
                        Err(InvalidTransition { from, action }),
                        "{from} {action} must be refused"
                    ),
                }
            }
        }
    }

    #[test]
    fn wire_names_round_trip() {
        for st in S::ALL {
            assert_eq!(S::parse(st.as_str()), Some(st));
            assert_eq!(serde_json::to_value(st).unwrap(), st.as_str());
        }
        assert_eq!(S::parse("Active"), None);
    }

    #[test]
    fn only_live_states_are_editable() {
        let editable: Vec<S> = S::ALL.into_iter().filter(|s| s.is_editable()).collect();
        assert_eq!(
            editable,
            [
                S::Available,
                S::Assigned,
                S::Active,
                S::Inactive,
                S::Suspended
            ]
        );
    }

    fn status() -> impl Strategy<Value = S> {
        proptest::sample::select(S::ALL.to_vec())
    }
    fn action() -> impl Strategy<Value = A> {
        proptest::sample::select(A::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn random_sequences_never_leave_a_terminal_state(
            start in status(),
            actions in proptest::collection::vec(action(), 0..64),
        ) {
            let mut state = start;
            let mut terminal_seen = state.is_terminal();
            for a in actions {
                if let Ok(next) = transition(state, a) {
                    prop_assert!(!terminal_seen, "left terminal {state} by {a}");
                    state = next;
                }
                terminal_seen |= state.is_terminal();
            }
        }

        #[test]
        fn active_is_never_reached_without_passing_assigned(
            actions in proptest::collection::vec(action(), 0..64),
        ) {
            let mut state = S::Available;
            let mut passed_assigned = false;
            for a in actions {
                if let Ok(next) = transition(state, a) {
                    state = next;
                }
                passed_assigned |= state == S::Assigned;
                if state == S::Active {
                    prop_assert!(passed_assigned);
                }
            }
        }

        #[test]
        fn a_refused_action_names_the_state_and_action(from in status(), a in action()) {
            match transition(from, a) {
                Ok(to) => prop_assert_eq!(Some(to), table(from, a)),
                Err(e) => {
                    prop_assert_eq!(table(from, a), None);
                    prop_assert_eq!(e, InvalidTransition { from, action: a });
                }
            }
        }
    }
}
