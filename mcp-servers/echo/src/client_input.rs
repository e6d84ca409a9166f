//! Tools that need the client's help: `sample` (sampling/createMessage) and
//! `elicit` (elicitation/create), in both protocol eras.
//!
//! * 2025-11-25 and older: a server→client request on the caller's session
//!   (rmcp `Peer<RoleServer>`), sent from inside the handler task so the
//!   streamable HTTP transport routes it onto the originating POST's stream.
//! * 2026-07-28: rmcp refuses server→client requests, so the tool answers
//!   with an `input_required` result carrying the request under a key; the
//!   client fulfils it and retries the call with `inputResponses[key]`.

// Sampling is deprecated by SEP-2577 (2026-07-28) but still served here.
#![allow(deprecated)]

use rmcp::{
    RoleServer,
    model::{
        CallToolResult, ClientResult, CreateMessageRequest, CreateMessageRequestParams,
        CreateMessageResult, ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationAction,
        ElicitationSchema, ErrorData, InputRequest, InputRequests, InputRequiredResult,
        InputResponses, ProtocolVersion, SamplingMessage, SamplingMessageContentBlock,
        ServerRequest,
    },
    service::{RequestContext, ServiceError},
};
use serde::de::DeserializeOwned;

use crate::{
    catalog::{ElicitArgs, SampleArgs},
    tools::{error, text},
};

/// Key of the sampling request in `inputRequests` / `inputResponses`.
pub const SAMPLE_KEY: &str = "sample";
/// Key of the elicitation request in `inputRequests` / `inputResponses`.
pub const ELICIT_KEY: &str = "elicit";
/// `maxTokens` of the sampling request.
pub const SAMPLE_MAX_TOKENS: u32 = 100;

/// What a client-input tool returns: a final result or an MRTR round.
pub enum Outcome {
    Done(CallToolResult),
    InputRequired(InputRequiredResult),
}

/// Whether this request runs under the stateless 2026-07-28 rules.
pub fn is_modern(context: &RequestContext<RoleServer>) -> bool {
    context
        .protocol_version()
        .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28)
}

/// `sample`: the text of the client's sampling answer.
pub async fn sample(
    args: SampleArgs,
    responses: Option<&InputResponses>,
    context: &RequestContext<RoleServer>,
) -> Result<Outcome, ErrorData> {
    let params = CreateMessageRequestParams::new(
        vec![SamplingMessage::user_text(args.prompt)],
        SAMPLE_MAX_TOKENS,
    );
    let answer: CreateMessageResult = if is_modern(context) {
        match responses.and_then(|responses| responses.get(SAMPLE_KEY)) {
            Some(value) => parse_response(value)?,
            None => {
                let request = InputRequest::CreateMessage(CreateMessageRequest::new(params));
                return Ok(input_required(SAMPLE_KEY, request));
            }
        }
    } else {
        let request = ServerRequest::CreateMessageRequest(CreateMessageRequest::new(params));
        match ask(context, request).await {
            Ok(ClientResult::CreateMessageResult(answer)) => *answer,
            Ok(_) => return Ok(Outcome::Done(error("unexpected answer to sampling"))),
            Err(err) => return Ok(Outcome::Done(error(format!("sampling failed: {err}")))),
        }
    };
    Ok(Outcome::Done(text(sampled_text(answer))))
}

/// `elicit`: the accepted `answer`, or "declined" / "cancelled".
pub async fn elicit(
    args: ElicitArgs,
    responses: Option<&InputResponses>,
    context: &RequestContext<RoleServer>,
) -> Result<Outcome, ErrorData> {
    let params = ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: args.message,
        requested_schema: answer_schema()?,
    };
    let answer: ElicitResult = if is_modern(context) {
        match responses.and_then(|responses| responses.get(ELICIT_KEY)) {
            Some(value) => parse_response(value)?,
            None => {
                let request = InputRequest::Elicitation(ElicitRequest::new(params));
                return Ok(input_required(ELICIT_KEY, request));
            }
        }
    } else {
        let request = ServerRequest::ElicitRequest(ElicitRequest::new(params));
        match ask(context, request).await {
            Ok(ClientResult::ElicitResult(answer)) => answer,
            Ok(_) => return Ok(Outcome::Done(error("unexpected answer to elicitation"))),
            Err(err) => return Ok(Outcome::Done(error(format!("elicitation failed: {err}")))),
        }
    };
    Ok(Outcome::Done(elicited(answer)))
}

/// The form: one required string field `answer`.
pub fn answer_schema() -> Result<ElicitationSchema, ErrorData> {
    ElicitationSchema::builder()
        .required_string("answer")
        .build()
        .map_err(|err| ErrorData::internal_error(format!("elicitation schema: {err}"), None))
}

/// Sends a server→client request on a legacy session; gives up when the
/// tool call is cancelled.
async fn ask(
    context: &RequestContext<RoleServer>,
    request: ServerRequest,
) -> Result<ClientResult, ServiceError> {
    tokio::select! {
        result = context.peer.send_request(request) => result,
        () = context.ct.cancelled() => Err(ServiceError::Cancelled { reason: None }),
    }
}

fn input_required(key: &str, request: InputRequest) -> Outcome {
    let mut requests = InputRequests::new();
    requests.insert(key.to_owned(), request);
    Outcome::InputRequired(InputRequiredResult::from_input_requests(requests))
}

fn parse_response<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, ErrorData> {
    T::deserialize(value)
        .map_err(|err| ErrorData::invalid_params(format!("bad inputResponses entry: {err}"), None))
}

/// The text blocks of a sampling answer, joined by newlines.
fn sampled_text(answer: CreateMessageResult) -> String {
    let texts: Vec<String> = answer
        .message
        .content
        .into_vec()
        .into_iter()
        .filter_map(|block| match block {
            SamplingMessageContentBlock::Text(text) => Some(text.text),
            _ => None,
        })
        .collect();
    texts.join("\n")
}

fn elicited(answer: ElicitResult) -> CallToolResult {
    match answer.action {
        ElicitationAction::Accept => {
            match answer
                .content
                .as_ref()
                .and_then(|content| content.get("answer"))
                .and_then(|answer| answer.as_str())
            {
                Some(answer) => text(answer),
                None => error("elicitation accepted without a string `answer`"),
            }
        }
        ElicitationAction::Decline => text("declined"),
        ElicitationAction::Cancel => text("cancelled"),
        other => error(format!("unknown elicitation action {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sampled_text_joins_text_blocks() {
        let answer = CreateMessageResult::new(
            SamplingMessage::new_multiple(
                rmcp::model::Role::Assistant,
                vec![
                    SamplingMessageContentBlock::text("a"),
                    SamplingMessageContentBlock::text("b"),
                ],
            ),
            "m".into(),
        );
        assert_eq!(sampled_text(answer), "a\nb");
    }

    #[test]
    fn elicitation_answers_map_to_text() -> anyhow::Result<()> {
        let accept: ElicitResult =
            serde_json::from_value(json!({"action": "accept", "content": {"answer": "42"}}))?;
        let decline: ElicitResult = serde_json::from_value(json!({"action": "decline"}))?;
        let cancel: ElicitResult = serde_json::from_value(json!({"action": "cancel"}))?;
        let texts: Vec<Option<String>> = [accept, decline, cancel]
            .into_iter()
            .map(|answer| {
                elicited(answer)
                    .content
                    .first()
                    .and_then(|c| c.as_text())
                    .map(|t| t.text.clone())
            })
            .collect();
        assert_eq!(
            texts,
            vec![
                Some("42".to_owned()),
                Some("declined".to_owned()),
                Some("cancelled".to_owned())
            ]
        );
        Ok(())
    }

    #[test]
    fn answer_schema_requires_answer() -> anyhow::Result<()> {
        let schema = serde_json::to_value(answer_schema().map_err(|e| anyhow::anyhow!("{e:?}"))?)?;
        assert_eq!(schema["required"], json!(["answer"]));
        assert_eq!(schema["properties"]["answer"]["type"], "string");
        Ok(())
    }
}
