//! Resources (`echo://info`, template `echo://items/{id}`) and the `greet`
//! prompt.

use rmcp::model::{
    ErrorData, GetPromptResult, JsonObject, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, Prompt, PromptArgument, PromptMessage, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate, Role,
};

/// URI of the static resource.
pub const INFO_URI: &str = "echo://info";
/// URI template of the item resources.
pub const ITEM_TEMPLATE: &str = "echo://items/{id}";
const ITEM_PREFIX: &str = "echo://items/";
const TEXT_PLAIN: &str = "text/plain";
/// Name of the prompt.
pub const GREET: &str = "greet";

/// `resources/list`.
pub fn list() -> ListResourcesResult {
    ListResourcesResult::with_all_items(vec![
        Resource::new(INFO_URI, "info")
            .with_description("Which echo server this is.")
            .with_mime_type(TEXT_PLAIN),
    ])
}

/// `resources/templates/list`.
pub fn templates() -> ListResourceTemplatesResult {
    ListResourceTemplatesResult::with_all_items(vec![
        ResourceTemplate::new(ITEM_TEMPLATE, "item")
            .with_description("Item {id}: reads as the text \"item {id}\".")
            .with_mime_type(TEXT_PLAIN),
    ])
}

/// `resources/read`.
pub fn read(uri: &str, server_name: &str) -> Result<ReadResourceResult, ErrorData> {
    let text = if uri == INFO_URI {
        format!("echo server {server_name}")
    } else if let Some(id) = uri.strip_prefix(ITEM_PREFIX).filter(|id| !id.is_empty()) {
        format!("item {id}")
    } else {
        return Err(ErrorData::resource_not_found(
            format!("no resource {uri}"),
            None,
        ));
    };
    Ok(ReadResourceResult::new(vec![
        ResourceContents::text(text, uri).with_mime_type(TEXT_PLAIN),
    ]))
}

/// `prompts/list`.
pub fn prompts() -> ListPromptsResult {
    ListPromptsResult::with_all_items(vec![Prompt::new(
        GREET,
        Some("A user message greeting someone."),
        Some(vec![
            PromptArgument::new("name")
                .with_description("Who to greet.")
                .with_required(true),
        ]),
    )])
}

/// `prompts/get`.
pub fn get_prompt(
    name: &str,
    arguments: Option<&JsonObject>,
) -> Result<GetPromptResult, ErrorData> {
    if name != GREET {
        return Err(ErrorData::invalid_params(format!("no prompt {name}"), None));
    }
    let who = arguments
        .and_then(|arguments| arguments.get("name"))
        .and_then(|name| name.as_str())
        .ok_or_else(|| ErrorData::invalid_params("greet needs a string argument `name`", None))?;
    Ok(GetPromptResult::new(vec![PromptMessage::new_text(
        Role::User,
        format!("Hello, {who}!"),
    )]))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn text_of(result: &ReadResourceResult) -> Option<&str> {
        match result.contents.first() {
            Some(ResourceContents::TextResourceContents { text, .. }) => Some(text),
            _ => None,
        }
    }

    #[test]
    fn reads_info_and_items() -> Result<(), ErrorData> {
        assert_eq!(text_of(&read(INFO_URI, "e1")?), Some("echo server e1"));
        assert_eq!(text_of(&read("echo://items/7", "e1")?), Some("item 7"));
        assert!(read("echo://items/", "e1").is_err());
        assert!(read("echo://other", "e1").is_err());
        Ok(())
    }

    #[test]
    fn greets() -> Result<(), ErrorData> {
        let mut args = JsonObject::new();
        args.insert("name".into(), json!("Ada"));
        let result = get_prompt(GREET, Some(&args))?;
        assert_eq!(result.messages.len(), 1);
        assert_eq!(
            result
                .messages
                .first()
                .and_then(|m| m.content.as_text())
                .map(|t| t.text.as_str()),
            Some("Hello, Ada!")
        );
        assert!(get_prompt(GREET, None).is_err());
        assert!(get_prompt("other", Some(&args)).is_err());
        Ok(())
    }
}
