//! End-to-end tests: an rmcp client talks to [`OpenApiServer`] over
//! `tokio::io::duplex`; the server calls a local axum pet store on
//! 127.0.0.1 described by an OpenAPI document.

use std::{net::SocketAddr, time::Duration};

use anyhow::{anyhow, bail};
use axum::{
    Json, Router,
    extract::Path,
    http::{HeaderMap, StatusCode, Uri},
    response::Redirect,
    routing::get,
};
use rmcp::model::CallToolResult;
use serde_json::{Value, json};

use crate::{config::Config, server::OpenApiServer};

use polyclaw_server_stdio::testing::Client;
use polyclaw_server_stdio::testing::call;

/// Starts the pet store; returns its address.
async fn app() -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let port = addr.port();
    let pets = || json!([{"id": "1", "name": "Rex"}, {"id": "2", "name": "Tom"}]);
    let router = Router::new()
        .route(
            "/api/pets",
            get(move |uri: Uri| async move {
                let limit = uri
                    .query()
                    .unwrap_or_default()
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("limit="))
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or(usize::MAX);
                let all = pets();
                let list: Vec<Value> = all
                    .as_array()
                    .map(|pets| pets.iter().take(limit).cloned().collect())
                    .unwrap_or_default();
                Json(Value::Array(list))
            })
            .post(|headers: HeaderMap, Json(body): Json<Value>| async move {
                let request_id = headers
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-")
                    .to_owned();
                (
                    StatusCode::CREATED,
                    Json(json!({"created": body, "request_id": request_id})),
                )
            }),
        )
        .route(
            "/api/pets/{pet_id}",
            get(move |Path(pet_id): Path<String>| async move {
                let found = pets().as_array().and_then(|pets| {
                    pets.iter()
                        .find(|pet| pet["id"] == pet_id.as_str())
                        .cloned()
                });
                match found {
                    Some(pet) => (StatusCode::OK, Json(pet)),
                    None => (
                        StatusCode::NOT_FOUND,
                        Json(json!({"error": format!("no pet {pet_id}")})),
                    ),
                }
            })
            .delete(|| async { StatusCode::NO_CONTENT }),
        )
        .route(
            "/api/moved-in",
            get(|| async { Redirect::temporary("/api/pets/2") }),
        )
        .route(
            "/api/moved-out",
            get(move || async move {
                Redirect::temporary(&format!("http://localhost:{port}/api/pets/2"))
            }),
        )
        .route(
            "/api/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(addr)
}

/// The pet store's OpenAPI document; its server URL uses variables.
fn document(port: u16) -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Pet store", "version": "1.0.0"},
        "servers": [{"url": "http://127.0.0.1:{port}/{base}", "variables": {
            "port": {"default": port.to_string()},
            "base": {"default": "api"}
        }}],
        "components": {
            "schemas": {
                "Pet": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string"},
                    "friends": {"type": "array", "items": {"$ref": "#/components/schemas/Pet"}}
                }}
            },
            "parameters": {
                "PetId": {"name": "petId", "in": "path", "required": true,
                          "description": "The pet's id", "schema": {"type": "string"}}
            }
        },
        "paths": {
            "/pets": {
                "get": {
                    "operationId": "listPets",
                    "summary": "List pets",
                    "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}]
                },
                "post": {
                    "operationId": "createPet",
                    "summary": "Create a pet",
                    "parameters": [{"name": "X-Request-Id", "in": "header", "schema": {"type": "string"}}],
                    "requestBody": {"required": true, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Pet"}}}}
                }
            },
            "/pets/{petId}": {
                "parameters": [{"$ref": "#/components/parameters/PetId"}],
                "get": {"operationId": "getPet", "summary": "Get a pet"},
                "delete": {"summary": "Delete a pet"}
            },
            "/moved-in": {"get": {"operationId": "movedIn"}},
            "/moved-out": {"get": {"operationId": "movedOut"}},
            "/slow": {"get": {"operationId": "slow"}}
        }
    })
}

async fn connect(config: Value, modern: bool) -> anyhow::Result<Client> {
    let config = Config::parse(&config.to_string())?;
    let server = OpenApiServer::new(config)?;
    polyclaw_server_stdio::testing::connect(server, modern).await
}

fn text(result: &CallToolResult) -> anyhow::Result<&str> {
    if result.content.len() != 1 {
        bail!("expected one content block: {result:?}");
    }
    result
        .content
        .first()
        .and_then(|content| content.as_text())
        .map(|text| text.text.as_str())
        .ok_or_else(|| anyhow!("no text content in {result:?}"))
}

#[tokio::test]
async fn lists_operations_as_tools_in_both_eras() -> anyhow::Result<()> {
    let addr = app().await?;
    for modern in [false, true] {
        let client = connect(
            json!({"name": "pets", "description": "The pet store.", "document": document(addr.port())}),
            modern,
        )
        .await?;
        let info = client
            .peer_info()
            .ok_or_else(|| anyhow!("no server info"))?;
        assert_eq!(
            info.server_info.as_ref().map(|i| i.name.as_str()),
            Some("pets")
        );
        assert_eq!(info.instructions.as_deref(), Some("The pet store."));
        let tools = client.list_all_tools().await?;
        let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "createPet",
                "delete_pets_petId",
                "getPet",
                "listPets",
                "movedIn",
                "movedOut",
                "slow"
            ]
        );
        let tool = |name: &str| {
            tools
                .iter()
                .find(|t| t.name == name)
                .ok_or_else(|| anyhow!("no tool {name}"))
        };
        let get_pet = tool("getPet")?;
        assert_eq!(get_pet.description.as_deref(), Some("Get a pet"));
        assert_eq!(
            Value::Object(get_pet.input_schema.as_ref().clone()),
            json!({
                "type": "object",
                "properties": {"petId": {"type": "string", "description": "The pet's id"}},
                "required": ["petId"],
                "additionalProperties": false
            })
        );
        assert_eq!(
            get_pet.annotations.as_ref().and_then(|a| a.read_only_hint),
            Some(true)
        );
        assert!(get_pet.output_schema.is_none());
        let create = tool("createPet")?;
        assert_eq!(
            Value::Object(create.input_schema.as_ref().clone()),
            json!({
                "type": "object",
                "properties": {
                    "X-Request-Id": {"type": "string"},
                    "body": {"type": "object", "required": ["name"], "properties": {
                        "name": {"type": "string"},
                        "friends": {"type": "array", "items": {}}
                    }}
                },
                "required": ["body"],
                "additionalProperties": false
            })
        );
        let delete = tool("delete_pets_petId")?;
        assert_eq!(
            delete.annotations.as_ref().and_then(|a| a.destructive_hint),
            Some(true)
        );
        assert_eq!(delete.description.as_deref(), Some("Delete a pet"));
        client.cancel().await?;
    }
    Ok(())
}

#[tokio::test]
async fn calls_the_api() -> anyhow::Result<()> {
    let addr = app().await?;
    let client = connect(
        json!({"name": "pets", "document": document(addr.port())}),
        false,
    )
    .await?;

    let result = call(&client, "getPet", json!({"petId": "1"})).await?;
    assert_eq!(result.is_error, Some(false), "{result:?}");
    let body: Value = serde_json::from_str(text(&result)?)?;
    assert_eq!(body, json!({"id": "1", "name": "Rex"}));
    assert_eq!(
        result.structured_content,
        Some(json!({"id": "1", "name": "Rex"}))
    );

    // Arrays are text only; the query parameter arrives.
    let result = call(&client, "listPets", json!({"limit": 1})).await?;
    assert_eq!(result.is_error, Some(false), "{result:?}");
    assert_eq!(
        serde_json::from_str::<Value>(text(&result)?)?,
        json!([{"id": "1", "name": "Rex"}])
    );
    assert_eq!(result.structured_content, None);

    // JSON body and header parameter; 201 is a success.
    let result = call(
        &client,
        "createPet",
        json!({"body": {"name": "Nemo"}, "X-Request-Id": "r-7"}),
    )
    .await?;
    assert_eq!(result.is_error, Some(false), "{result:?}");
    assert_eq!(
        result.structured_content,
        Some(json!({"created": {"name": "Nemo"}, "request_id": "r-7"}))
    );

    // 404: an error result; the path value is one encoded segment.
    let result = call(&client, "getPet", json!({"petId": "a b/c?"})).await?;
    assert_eq!(result.is_error, Some(true));
    let message = text(&result)?;
    assert!(message.starts_with("HTTP 404 Not Found: "), "{message}");
    assert!(message.contains("no pet a b/c?"), "{message}");

    let result = call(&client, "delete_pets_petId", json!({"petId": "2"})).await?;
    assert_eq!(result.is_error, Some(false));
    assert_eq!(text(&result)?, "HTTP 204 No Content (empty body)");

    // Redirects: followed within the origin, not to another one.
    let result = call(&client, "movedIn", json!({})).await?;
    assert_eq!(
        result.structured_content,
        Some(json!({"id": "2", "name": "Tom"}))
    );
    let result = call(&client, "movedOut", json!({})).await?;
    let message = text(&result)?;
    assert!(
        message.starts_with("HTTP 307 Temporary Redirect: redirect to http://localhost:"),
        "{message}"
    );
    assert!(message.contains("not followed"), "{message}");
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn bad_arguments_and_unknown_tools() -> anyhow::Result<()> {
    let addr = app().await?;
    let client = connect(
        json!({"name": "pets", "document": document(addr.port())}),
        true,
    )
    .await?;
    let result = call(&client, "getPet", json!({})).await?;
    assert_eq!(result.is_error, Some(true));
    let message = text(&result)?;
    assert!(
        message.starts_with("missing required argument \"petId\""),
        "{message}"
    );
    let result = call(&client, "createPet", json!({"body": {}, "name": "x"})).await?;
    assert_eq!(result.is_error, Some(true));
    let message = text(&result)?;
    assert!(
        message.starts_with("unknown argument \"name\""),
        "{message}"
    );
    assert!(message.contains("X-Request-Id (header)"), "{message}");
    let err = call(&client, "nope", json!({}))
        .await
        .err()
        .map(|err| format!("{err:#}"))
        .unwrap_or_default();
    assert!(err.contains("unknown tool nope"), "{err}");
    client.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn network_errors_name_the_url() -> anyhow::Result<()> {
    // A port nothing listens on.
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        listener.local_addr()?.port()
    };
    let base = format!("http://127.0.0.1:{closed}/api");
    let client = connect(
        json!({"name": "pets", "base_url": base, "document": document(closed)}),
        false,
    )
    .await?;
    let result = call(&client, "listPets", json!({"limit": 2})).await?;
    assert_eq!(result.is_error, Some(true));
    let message = text(&result)?;
    assert!(
        message.starts_with(&format!("cannot reach {base}/pets?limit=2: ")),
        "{message}"
    );
    assert!(
        message.to_lowercase().contains("connection refused"),
        "{message}"
    );
    assert!(message.contains("is the API running"), "{message}");
    client.cancel().await?;

    let addr = app().await?;
    let client = connect(
        json!({"name": "pets", "timeout_secs": 1, "document": document(addr.port())}),
        false,
    )
    .await?;
    let started = std::time::Instant::now();
    let result = call(&client, "slow", json!({})).await?;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(result.is_error, Some(true));
    let message = text(&result)?;
    assert!(
        message.contains(&format!(
            "GET http://{addr}/api/slow: no response within 1 s"
        )),
        "{message}"
    );
    client.cancel().await?;
    Ok(())
}
