//! From an OpenAPI 3.0/3.1 document to tools: one [`Operation`] per method
//! under `paths`, with its tool name, description, input JSON Schema and
//! what each argument becomes in the request.

use std::collections::BTreeSet;

use reqwest::Method;
use rmcp::model::JsonObject;
use serde_json::{Map, Value, json};

use crate::refs::Resolver;

/// The methods an OpenAPI path item can hold, in the order tools are listed.
const METHODS: [(&str, Method); 8] = [
    ("get", Method::GET),
    ("put", Method::PUT),
    ("post", Method::POST),
    ("delete", Method::DELETE),
    ("patch", Method::PATCH),
    ("head", Method::HEAD),
    ("options", Method::OPTIONS),
    ("trace", Method::TRACE),
];

/// Longest tool name.
pub const MAX_TOOL_NAME: usize = 64;

/// Where a parameter goes in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Path,
    Query,
    Header,
}

impl Location {
    pub fn name(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::Query => "query",
            Self::Header => "header",
        }
    }
}

/// A parameter of an operation and the tool argument that gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The name in the request (path template, query key or header name).
    pub name: String,
    /// The tool argument (usually `name`; see [`argument_name`]).
    pub argument: String,
    pub location: Location,
    pub required: bool,
}

/// The JSON request body and the tool argument that gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// `body`, or `request_body` when a parameter is named `body`.
    pub argument: String,
    pub required: bool,
    /// The media type sent as `content-type` (`application/json` or a
    /// `+json` type of the document).
    pub content_type: String,
}

/// One operation: one tool.
#[derive(Debug, Clone)]
pub struct Operation {
    pub tool: String,
    pub method: Method,
    /// The path template, e.g. `/pets/{petId}`.
    pub path: String,
    pub description: String,
    pub input_schema: JsonObject,
    pub params: Vec<Param>,
    pub body: Option<Body>,
    /// GET or HEAD.
    pub read_only: bool,
    /// DELETE.
    pub destructive: bool,
}

impl Operation {
    /// `GET /pets/{petId}`.
    pub fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The names of all arguments, parameters first.
    pub fn arguments(&self) -> impl Iterator<Item = &str> {
        self.params
            .iter()
            .map(|param| param.argument.as_str())
            .chain(self.body.iter().map(|body| body.argument.as_str()))
    }

    /// The names of the required arguments.
    pub fn required(&self) -> impl Iterator<Item = &str> {
        self.params
            .iter()
            .filter(|param| param.required)
            .map(|param| param.argument.as_str())
            .chain(
                self.body
                    .iter()
                    .filter(|body| body.required)
                    .map(|body| body.argument.as_str()),
            )
    }
}

/// Every operation of `document`, or every problem found.
pub fn operations(document: &Value) -> Result<Vec<Operation>, Vec<String>> {
    let resolver = Resolver::new(document);
    let mut problems = Vec::new();
    let mut operations: Vec<Operation> = Vec::new();
    let Some(paths) = document.get("paths").and_then(Value::as_object) else {
        return Err(vec![
            "the document has no \"paths\" object: there are no operations to make tools of"
                .to_owned(),
        ]);
    };
    for (path, item) in paths {
        if !path.starts_with('/') {
            problems.push(format!("paths[{path:?}]: a path must start with \"/\""));
            continue;
        }
        let item = match resolver.deref(item) {
            Ok(Value::Object(item)) => item,
            Ok(_) => {
                problems.push(format!("paths[{path:?}]: not an object"));
                continue;
            }
            Err(message) => {
                problems.push(format!("paths[{path:?}]: {message}"));
                continue;
            }
        };
        for (key, method) in METHODS {
            let Some(operation) = item.get(key) else {
                continue;
            };
            match derive(&resolver, path, method.clone(), operation, item) {
                Ok(operation) => {
                    if let Some(other) = operations.iter().find(|o| o.tool == operation.tool) {
                        problems.push(format!(
                            "{} and {} both make the tool name {:?}: give them distinct operationIds",
                            other.label(),
                            operation.label(),
                            operation.tool
                        ));
                    }
                    operations.push(operation);
                }
                Err(message) => problems.push(format!("{method} {path}: {message}")),
            }
        }
    }
    if operations.is_empty() && problems.is_empty() {
        problems.push(
            "the document has no operations (get, put, post, ... under \"paths\"): \
             there are no tools to offer"
                .to_owned(),
        );
    }
    if problems.is_empty() {
        Ok(operations)
    } else {
        Err(problems)
    }
}

/// Sanitizes a tool name: each run of characters outside `[A-Za-z0-9_-]`
/// becomes one `_`; cut at [`MAX_TOOL_NAME`].
pub fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut replaced = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            out.push(c);
            replaced = false;
        } else if !replaced {
            out.push('_');
            replaced = true;
        }
    }
    // Only ASCII is left: any byte index is a char boundary.
    out.truncate(MAX_TOOL_NAME);
    out
}

/// The tool name of an operation: its `operationId` sanitized, else
/// `<method>_<path>` sanitized (`get_pets_petId`).
pub fn tool_name(operation_id: Option<&str>, method: &Method, path: &str) -> String {
    if let Some(id) = operation_id {
        let name = sanitize(id);
        if name.chars().any(|c| c.is_ascii_alphanumeric()) {
            return name;
        }
    }
    let fallback = sanitize(&format!(
        "{}_{}",
        method.as_str().to_ascii_lowercase(),
        path.trim_matches('/')
    ));
    fallback.trim_end_matches('_').to_owned()
}

/// Whether `name` can be a tool argument as it is (what the common model
/// APIs accept as property names).
fn valid_argument(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The argument name for a parameter: its name when valid and free, else
/// `<in>_<name>`, sanitized, with a number added until it is free.
fn argument_name(name: &str, location: Location, taken: &BTreeSet<String>) -> String {
    if valid_argument(name) && !taken.contains(name) {
        return name.to_owned();
    }
    let base = sanitize(&format!("{}_{name}", location.name()));
    if !taken.contains(&base) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}_{n}"))
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or(base)
}

/// A parameter as read from the document, before argument naming.
struct RawParam<'a> {
    name: String,
    location: Location,
    required: bool,
    definition: &'a Value,
}

/// Reads one parameter (following `$ref`); `None` for those that are not
/// arguments (cookies; Accept, Content-Type and Authorization headers, which
/// OpenAPI says to ignore).
fn read_param<'a>(
    resolver: &Resolver<'a>,
    param: &'a Value,
) -> Result<Option<RawParam<'a>>, String> {
    let definition = resolver.deref(param)?;
    let name = definition
        .get("name")
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
        .ok_or("a parameter has no \"name\"")?;
    let location = match definition.get("in").and_then(Value::as_str) {
        Some("path") => Location::Path,
        Some("query") => Location::Query,
        Some("header") => Location::Header,
        Some("cookie") => return Ok(None),
        other => {
            return Err(format!(
                "parameter {name:?}: \"in\" is {other:?}: use path, query, header or cookie"
            ));
        }
    };
    if location == Location::Header
        && ["accept", "content-type", "authorization"].contains(&name.to_ascii_lowercase().as_str())
    {
        return Ok(None);
    }
    let required = location == Location::Path
        || definition.get("required").and_then(Value::as_bool) == Some(true);
    Ok(Some(RawParam {
        name: name.to_owned(),
        location,
        required,
        definition,
    }))
}

/// The parameters of an operation: path-level ones, then operation-level
/// ones replacing those with the same name and location.
fn merged_params<'a>(
    resolver: &Resolver<'a>,
    shared: Option<&'a Value>,
    own: Option<&'a Value>,
) -> Result<Vec<RawParam<'a>>, String> {
    let mut merged: Vec<RawParam<'a>> = Vec::new();
    for list in [shared, own].into_iter().flatten() {
        let Some(list) = list.as_array() else {
            return Err("\"parameters\" is not an array".to_owned());
        };
        for param in list {
            let Some(param) = read_param(resolver, param)? else {
                continue;
            };
            match merged
                .iter_mut()
                .find(|p| p.name == param.name && p.location == param.location)
            {
                Some(existing) => *existing = param,
                None => merged.push(param),
            }
        }
    }
    Ok(merged)
}

/// `{name}`s of a path template.
fn template_names(path: &str) -> Vec<&str> {
    path.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .collect()
}

/// Whether a media type is JSON: `application/json` or `*/*+json`
/// (parameters such as `; charset=utf-8` ignored).
fn is_json(media_type: &str) -> bool {
    let essence = media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// Derives the operation `method path`; `item` is its path item.
fn derive<'a>(
    resolver: &Resolver<'a>,
    path: &str,
    method: Method,
    operation: &'a Value,
    item: &'a Map<String, Value>,
) -> Result<Operation, String> {
    if !operation.is_object() {
        return Err("not an object".to_owned());
    }
    let text = |key: &str| {
        operation
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|text| !text.is_empty())
    };
    let tool = tool_name(
        operation.get("operationId").and_then(Value::as_str),
        &method,
        path,
    );
    let mut description = match (text("summary"), text("description")) {
        (Some(summary), Some(description)) => format!("{summary}\n\n{description}"),
        (Some(text), None) | (None, Some(text)) => text.to_owned(),
        (None, None) => format!("{method} {path}"),
    };

    let mut raw = merged_params(
        resolver,
        item.get("parameters"),
        operation.get("parameters"),
    )?;
    // A `{name}` of the template without a declared parameter: a string.
    for name in template_names(path) {
        if !raw
            .iter()
            .any(|p| p.location == Location::Path && p.name == name)
        {
            raw.push(RawParam {
                name: name.to_owned(),
                location: Location::Path,
                required: true,
                definition: &Value::Null,
            });
        }
    }

    let mut taken = BTreeSet::new();
    let mut params = Vec::new();
    let mut properties = Map::new();
    for param in raw {
        let argument = argument_name(&param.name, param.location, &taken);
        taken.insert(argument.clone());
        let schema = param_schema(resolver, &param, &argument)
            .map_err(|err| format!("parameter {:?}: {err}", param.name))?;
        properties.insert(argument.clone(), schema);
        params.push(Param {
            name: param.name,
            argument,
            location: param.location,
            required: param.required,
        });
    }

    let mut body = None;
    if let Some(request_body) = operation.get("requestBody") {
        let request_body = resolver
            .deref(request_body)
            .map_err(|err| format!("requestBody: {err}"))?;
        let empty = Map::new();
        let content = request_body
            .get("content")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let json_type = content
            .keys()
            .find(|media| media.trim().eq_ignore_ascii_case("application/json"))
            .or_else(|| content.keys().find(|media| is_json(media)));
        match json_type {
            Some(content_type) => {
                let mut schema = match content
                    .get(content_type)
                    .and_then(|media| media.get("schema"))
                {
                    Some(schema) => resolver
                        .inline_schema(schema)
                        .map_err(|err| format!("requestBody: {err}"))?,
                    None => json!({}),
                };
                if let Some(text) = request_body.get("description").and_then(Value::as_str) {
                    set_description(&mut schema, text);
                }
                let argument = ["body", "request_body"]
                    .into_iter()
                    .map(str::to_owned)
                    .chain((2..).map(|n| format!("request_body_{n}")))
                    .find(|name| !taken.contains(name))
                    .unwrap_or_default();
                properties.insert(argument.clone(), schema);
                body = Some(Body {
                    argument,
                    required: request_body.get("required").and_then(Value::as_bool) == Some(true),
                    content_type: content_type.clone(),
                });
            }
            None if !content.is_empty() => {
                let types: Vec<&str> = content.keys().map(String::as_str).collect();
                description.push_str(&format!(
                    "\n\nThis operation takes a request body ({}) that this tool cannot send: \
                     only JSON bodies are supported.",
                    types.join(", ")
                ));
            }
            None => {}
        }
    }

    let mut schema = JsonObject::new();
    schema.insert("type".to_owned(), json!("object"));
    schema.insert("properties".to_owned(), Value::Object(properties));
    let required: Vec<Value> = params
        .iter()
        .filter(|param| param.required)
        .map(|param| json!(param.argument))
        .chain(
            body.iter()
                .filter(|body| body.required)
                .map(|body| json!(body.argument)),
        )
        .collect();
    if !required.is_empty() {
        schema.insert("required".to_owned(), Value::Array(required));
    }
    schema.insert("additionalProperties".to_owned(), json!(false));

    Ok(Operation {
        tool,
        read_only: method == Method::GET || method == Method::HEAD,
        destructive: method == Method::DELETE,
        method,
        path: path.to_owned(),
        description,
        input_schema: schema,
        params,
        body,
    })
}

/// Puts `text` as the `description` of `schema` (made an object if it is
/// `true`).
fn set_description(schema: &mut Value, text: &str) {
    if schema == &Value::Bool(true) {
        *schema = json!({});
    }
    if let Value::Object(schema) = schema
        && !text.trim().is_empty()
    {
        schema.insert("description".to_owned(), json!(text.trim()));
    }
}

/// The input schema of one parameter: its `schema` (or the schema of its
/// first `content` entry) inlined, with the parameter's description.
fn param_schema(
    resolver: &Resolver<'_>,
    param: &RawParam<'_>,
    argument: &str,
) -> Result<Value, String> {
    let definition = param.definition;
    let schema = definition.get("schema").or_else(|| {
        definition
            .get("content")
            .and_then(Value::as_object)
            .and_then(|content| content.values().next())
            .and_then(|media| media.get("schema"))
    });
    let mut schema = match schema {
        Some(schema) => resolver.inline_schema(schema)?,
        None if definition.is_null() => json!({"type": "string"}),
        None => json!({}),
    };
    let mut text = definition
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned();
    if argument != param.name {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&format!(
            "(sent as the {} parameter {:?})",
            param.location.name(),
            param.name
        ));
    }
    set_description(&mut schema, &text);
    Ok(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn derive_all(document: Value) -> Result<Vec<Operation>, Vec<String>> {
        operations(&document)
    }

    fn one(paths: Value) -> Operation {
        let mut ops = derive_all(json!({"openapi": "3.1.0", "paths": paths})).unwrap();
        assert_eq!(ops.len(), 1);
        ops.remove(0)
    }

    #[test]
    fn names_from_operation_id_or_method_and_path() {
        assert_eq!(
            tool_name(Some("listPets"), &Method::GET, "/pets"),
            "listPets"
        );
        assert_eq!(
            tool_name(Some("pets.list v2"), &Method::GET, "/pets"),
            "pets_list_v2"
        );
        assert_eq!(tool_name(Some("café-ünï"), &Method::GET, "/"), "caf_-_n_");
        assert_eq!(
            tool_name(None, &Method::GET, "/pets/{petId}"),
            "get_pets_petId"
        );
        assert_eq!(
            tool_name(None, &Method::DELETE, "/a.b/{c}/"),
            "delete_a_b_c"
        );
        assert_eq!(tool_name(None, &Method::GET, "/"), "get");
        // An operationId with nothing usable falls back.
        assert_eq!(tool_name(Some("???"), &Method::POST, "/x"), "post_x");
        let long = "a".repeat(100);
        assert_eq!(
            tool_name(Some(&long), &Method::GET, "/").len(),
            MAX_TOOL_NAME
        );
        assert_eq!(
            tool_name(None, &Method::GET, &format!("/{long}")).len(),
            MAX_TOOL_NAME
        );
    }

    #[test]
    fn duplicate_names_are_errors_naming_both() {
        let problems = derive_all(json!({"openapi": "3.0.0", "paths": {
            "/a": {"get": {"operationId": "same"}},
            "/b": {"post": {"operationId": "same"}},
        }}))
        .unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        let problem = problems.first().map(String::as_str).unwrap_or_default();
        assert!(problem.contains("GET /a"), "{problem}");
        assert!(problem.contains("POST /b"), "{problem}");
        assert!(problem.contains("\"same\""), "{problem}");
        // Sanitizing can collide too.
        assert!(
            derive_all(json!({"openapi": "3.0.0", "paths": {
                "/a": {"get": {"operationId": "x.y"}, "post": {"operationId": "x_y"}},
            }}))
            .is_err()
        );
    }

    #[test]
    fn descriptions_and_annotations() {
        let op =
            one(json!({"/pets": {"get": {"summary": "List pets", "description": "All of them."}}}));
        assert_eq!(op.description, "List pets\n\nAll of them.");
        assert!(op.read_only && !op.destructive);
        let op = one(json!({"/pets/{id}": {"delete": {"description": "Remove."}}}));
        assert_eq!(op.description, "Remove.");
        assert!(!op.read_only && op.destructive);
        let op = one(json!({"/pets": {"head": {}}}));
        assert_eq!(op.description, "HEAD /pets");
        assert!(op.read_only);
    }

    #[test]
    fn parameters_merge_path_level_and_operation_level() {
        let op = one(json!({"/pets/{petId}": {
            "parameters": [
                {"name": "petId", "in": "path", "schema": {"type": "string"}, "description": "shared"},
                {"name": "verbose", "in": "query", "schema": {"type": "boolean"}},
                {"name": "trace", "in": "header", "schema": {"type": "string"}}
            ],
            "get": {
                "operationId": "getPet",
                "parameters": [
                    {"name": "petId", "in": "path", "schema": {"type": "integer"}, "description": "The pet"},
                    {"name": "fields", "in": "query", "required": true,
                     "schema": {"type": "array", "items": {"type": "string"}}},
                    {"name": "session", "in": "cookie", "schema": {"type": "string"}},
                    {"name": "Accept", "in": "header", "schema": {"type": "string"}}
                ]
            }
        }}));
        assert_eq!(
            Value::Object(op.input_schema.clone()),
            json!({
                "type": "object",
                "properties": {
                    "petId": {"type": "integer", "description": "The pet"},
                    "verbose": {"type": "boolean"},
                    "trace": {"type": "string"},
                    "fields": {"type": "array", "items": {"type": "string"}}
                },
                "required": ["petId", "fields"],
                "additionalProperties": false
            })
        );
        let locations: Vec<(&str, Location, bool)> = op
            .params
            .iter()
            .map(|p| (p.argument.as_str(), p.location, p.required))
            .collect();
        assert_eq!(
            locations,
            [
                ("petId", Location::Path, true),
                ("verbose", Location::Query, false),
                ("trace", Location::Header, false),
                ("fields", Location::Query, true),
            ]
        );
    }

    #[test]
    fn references_are_inlined_including_cycles() {
        let document = json!({
            "openapi": "3.0.3",
            "components": {
                "parameters": {"Limit": {"name": "limit", "in": "query", "schema": {"$ref": "#/components/schemas/Limit"}}},
                "schemas": {
                    "Limit": {"type": "integer", "maximum": 100},
                    "Pet": {"type": "object", "required": ["name"], "properties": {
                        "name": {"type": "string"},
                        "parent": {"$ref": "#/components/schemas/Pet"}
                    }}
                },
                "requestBodies": {"NewPet": {"required": true, "description": "The new pet",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}}}
            },
            "paths": {"/pets": {"post": {
                "operationId": "addPet",
                "parameters": [{"$ref": "#/components/parameters/Limit"}],
                "requestBody": {"$ref": "#/components/requestBodies/NewPet"}
            }}}
        });
        let ops = operations(&document).unwrap();
        let op = ops.first().unwrap();
        assert_eq!(
            Value::Object(op.input_schema.clone()),
            json!({
                "type": "object",
                "properties": {
                    "limit": {"type": "integer", "maximum": 100},
                    "body": {"type": "object", "required": ["name"], "description": "The new pet", "properties": {
                        "name": {"type": "string"},
                        "parent": {}
                    }}
                },
                "required": ["body"],
                "additionalProperties": false
            })
        );
        assert_eq!(
            op.body,
            Some(Body {
                argument: "body".to_owned(),
                required: true,
                content_type: "application/json".to_owned()
            })
        );
    }

    #[test]
    fn bad_references_are_load_errors_naming_them() {
        let problems = derive_all(json!({"openapi": "3.0.0", "paths": {
            "/a": {"get": {"parameters": [{"$ref": "common.yaml#/components/parameters/Limit"}]}},
            "/b": {"post": {"requestBody": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Missing"}}}}}},
        }}))
        .unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems.iter().any(|p| p.starts_with("GET /a:")
                && p.contains("common.yaml#/components/parameters/Limit"))
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("POST /b:") && p.contains("#/components/schemas/Missing"))
        );
    }

    #[test]
    fn body_naming_and_content_types() {
        // A parameter named body: the body is request_body.
        let op = one(json!({"/x": {"put": {
            "parameters": [{"name": "body", "in": "query", "schema": {"type": "string"}}],
            "requestBody": {"content": {"application/merge-patch+json": {"schema": {"type": "object"}}}}
        }}}));
        let body = op.body.clone().unwrap();
        assert_eq!(body.argument, "request_body");
        assert!(!body.required);
        assert_eq!(body.content_type, "application/merge-patch+json");
        assert_eq!(op.input_schema.get("required"), None);
        assert_eq!(
            op.input_schema.get("properties"),
            Some(&json!({"body": {"type": "string"}, "request_body": {"type": "object"}}))
        );
        // JSON is preferred among several types.
        let op = one(json!({"/x": {"post": {"requestBody": {"content": {
            "application/xml": {}, "application/json": {"schema": {"type": "array"}}
        }}}}}));
        assert_eq!(
            op.body.map(|b| b.content_type).as_deref(),
            Some("application/json")
        );
        // No JSON type: no body argument, the description says so.
        let op = one(
            json!({"/upload": {"post": {"summary": "Upload", "requestBody": {"required": true,
            "content": {"multipart/form-data": {}}}}}}),
        );
        assert!(op.body.is_none());
        assert!(op.description.starts_with("Upload\n\n"));
        assert!(
            op.description.contains("multipart/form-data"),
            "{}",
            op.description
        );
        assert_eq!(op.input_schema.get("properties"), Some(&json!({})));
    }

    #[test]
    fn argument_names_stay_valid_and_distinct() {
        let op = one(json!({"/pets/{id}": {"get": {"parameters": [
            {"name": "id", "in": "path", "schema": {"type": "string"}},
            {"name": "id", "in": "query", "schema": {"type": "string"}},
            {"name": "filter[name]", "in": "query", "schema": {"type": "string"}}
        ]}}}));
        let names: Vec<(&str, &str)> = op
            .params
            .iter()
            .map(|p| (p.argument.as_str(), p.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("id", "id"),
                ("query_id", "id"),
                ("query_filter_name_", "filter[name]")
            ]
        );
        let properties = op.input_schema.get("properties").unwrap();
        assert_eq!(
            properties["query_filter_name_"]["description"],
            "(sent as the query parameter \"filter[name]\")"
        );
    }

    #[test]
    fn undeclared_template_names_become_string_arguments() {
        let op = one(json!({"/orgs/{org}/repos": {"get": {}}}));
        assert_eq!(
            Value::Object(op.input_schema),
            json!({"type": "object", "properties": {"org": {"type": "string"}},
                   "required": ["org"], "additionalProperties": false})
        );
    }

    #[test]
    fn bad_parameters_and_paths_are_reported() {
        let problems = derive_all(json!({"openapi": "3.0.0", "paths": {
            "/a": {"get": {"parameters": [{"name": "x", "in": "body"}]}},
            "/b": {"get": {"parameters": [{"in": "query"}]}},
            "c": {"get": {}},
        }}))
        .unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("use path, query, header or cookie"))
        );
        assert!(problems.iter().any(|p| p.contains("no \"name\"")));
        assert!(problems.iter().any(|p| p.contains("must start with")));
        assert!(derive_all(json!({"openapi": "3.0.0"})).is_err_and(|p| p.len() == 1));
    }
}
