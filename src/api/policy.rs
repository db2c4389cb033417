//! Who may do what (SPEC 9), in one table: [`access`] gives, for each endpoint and
//! role, whether the call is allowed, and for an agent whether only on what is its own.
//! Handlers ask it first ([`Caller::may`](super::auth::Caller::may)) and, for
//! [`Access::Own`], narrow what they read or refuse what is not the agent's.
use crate::store::{LeadHistory, Role};

/// Every endpoint that needs a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    GetLead,
    ReassignLead,
    UnassignLead,
    ListAgents,
    HaltAgent,
    ResumeAgent,
    OffboardAgent,
    ListPools,
    GetRules,
    RulesHistory,
    PublishRules,
    RollbackRules,
    CheckRules,
    Simulate,
    Replay,
}

/// What a role may do at an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anything the endpoint does.
    All,
    /// Only what is the agent's own (the token's name is the agent id): its leads
    /// (others are 404, as if they did not exist), itself among agents.
    Own,
    /// 403.
    Denied,
}

/// The one role check. Viewers read everything and may run what writes nothing
/// (check, simulate, replay); agents read their own leads and halt or resume
/// themselves; admins do everything.
pub fn access(endpoint: Endpoint, role: Role) -> Access {
    use Endpoint::*;
    match (role, endpoint) {
        (Role::Admin, _) => Access::All,
        (Role::Viewer, GetLead | ListAgents | ListPools | GetRules | RulesHistory) => Access::All,
        (Role::Viewer, CheckRules | Simulate | Replay) => Access::All,
        (Role::Viewer, ReassignLead | UnassignLead | HaltAgent | ResumeAgent | OffboardAgent) => {
            Access::Denied
        }
        (Role::Viewer, PublishRules | RollbackRules) => Access::Denied,
        (Role::Agent, GetLead | ListAgents | HaltAgent | ResumeAgent) => Access::Own,
        (Role::Agent, ReassignLead | UnassignLead | OffboardAgent) => Access::Denied,
        (Role::Agent, ListPools | GetRules | RulesHistory | PublishRules | RollbackRules) => {
            Access::Denied
        }
        (Role::Agent, CheckRules | Simulate | Replay) => Access::Denied,
    }
}

impl Endpoint {
    /// For the 403 message: "may not reassign leads".
    pub fn describe(self) -> &'static str {
        match self {
            Self::GetLead => "read leads",
            Self::ReassignLead => "reassign leads",
            Self::UnassignLead => "unassign leads",
            Self::ListAgents => "list agents",
            Self::HaltAgent => "halt agents",
            Self::ResumeAgent => "resume agents",
            Self::OffboardAgent => "offboard agents",
            Self::ListPools => "list pools",
            Self::GetRules => "read the rules",
            Self::RulesHistory => "read the rules' history",
            Self::PublishRules => "publish rules",
            Self::RollbackRules => "roll back rules",
            Self::CheckRules => "check rules",
            Self::Simulate => "simulate",
            Self::Replay => "replay",
        }
    }
}

/// Whether `agent` may see the lead: it owns it. (Next: works on it as an assignee,
/// is offered it, or it waits in a queue the agent may claim from.)
pub fn agent_sees_lead(agent: &str, lead: &LeadHistory) -> bool {
    lead.lead.state.placement.owner_id.as_deref() == Some(agent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admins_do_everything_and_viewers_change_nothing() {
        use Endpoint::*;
        let all = [
            GetLead,
            ReassignLead,
            UnassignLead,
            ListAgents,
            HaltAgent,
            ResumeAgent,
            OffboardAgent,
            ListPools,
            GetRules,
            RulesHistory,
            PublishRules,
            RollbackRules,
            CheckRules,
            Simulate,
            Replay,
        ];
        for e in all {
            assert_eq!(access(e, Role::Admin), Access::All, "{e:?}");
        }
        for e in [
            ReassignLead,
            UnassignLead,
            HaltAgent,
            ResumeAgent,
            OffboardAgent,
            PublishRules,
            RollbackRules,
        ] {
            assert_eq!(access(e, Role::Viewer), Access::Denied, "{e:?}");
            assert_ne!(access(e, Role::Agent), Access::All, "{e:?}");
        }
    }
}
