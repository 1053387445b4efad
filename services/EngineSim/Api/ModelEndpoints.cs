using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Platform.EngineSim.Engine;
using Platform.EngineSim.Text;

namespace Platform.EngineSim.Api;

/// <summary>/v1/models, /tokenize and /detokenize, in vLLM's shapes.</summary>
internal static class ModelEndpoints
{
    /// <summary>vLLM's ModelList: one ModelCard per served name, root = --model, owned_by "vllm".</summary>
    public static Task ListModelsAsync(HttpContext http)
    {
        var options = http.RequestServices.GetRequiredService<IInferenceEngine>().Options;
        var created = http.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow().ToUnixTimeSeconds();
        return JsonResponses.WriteAsync(http.Response, (options, created), static (w, s) =>
        {
            w.WriteStartObject();
            w.WriteString("object"u8, "list"u8);
            w.WriteStartArray("data"u8);
            foreach (var name in s.options.ServedModelNames)
            {
                w.WriteStartObject();
                w.WriteString("id"u8, name);
                w.WriteString("object"u8, "model"u8);
                w.WriteNumber("created"u8, s.created);
                w.WriteString("owned_by"u8, "vllm"u8);
                w.WriteString("root"u8, s.options.Model);
                w.WriteNull("parent"u8);
                w.WriteNumber("max_model_len"u8, s.options.MaxModelLen);
                w.WriteStartArray("permission"u8);
                w.WriteStartObject();
                w.WriteString("id"u8, "modelperm-" + Guid.NewGuid().ToString("N", CultureInfo.InvariantCulture));
                w.WriteString("object"u8, "model_permission"u8);
                w.WriteNumber("created"u8, s.created);
                w.WriteBoolean("allow_create_engine"u8, false);
                w.WriteBoolean("allow_sampling"u8, true);
                w.WriteBoolean("allow_logprobs"u8, true);
                w.WriteBoolean("allow_search_indices"u8, false);
                w.WriteBoolean("allow_view"u8, true);
                w.WriteBoolean("allow_fine_tuning"u8, false);
                w.WriteString("organization"u8, "*"u8);
                w.WriteNull("group"u8);
                w.WriteBoolean("is_blocking"u8, false);
                w.WriteEndObject();
                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }, http.RequestAborted);
    }

    /// <summary>POST /tokenize: {"prompt"} or {"messages", "add_generation_prompt", ...} → {"count", "max_model_len", "tokens", "token_strs"}.</summary>
    public static async Task TokenizeAsync(HttpContext http)
    {
        var services = http.RequestServices;
        try
        {
            using var body = await OpenAiEndpoints.ReadJsonAsync(http).ConfigureAwait(false);
            var fields = Object(body.RootElement);
            string text;
            if (fields.Has("messages"))
            {
                var messages = ChatTemplate.ReadMessages(fields);
                var addGenerationPrompt = fields.Bool("add_generation_prompt", true);
                var continueFinal = fields.Bool("continue_final_message", false);
                if (continueFinal && addGenerationPrompt)
                {
                    throw OpenAiException.ValueError("Cannot set both `continue_final_message` and `add_generation_prompt` to True.", "continue_final_message");
                }

                text = ChatTemplate.Render(messages, addGenerationPrompt, continueFinal);
            }
            else
            {
                text = fields.String("prompt")
                    ?? throw OpenAiException.Validation("[{'type': 'missing', 'loc': ('body', 'prompt'), 'msg': 'Field required'}]", "prompt");
            }

            var returnStrings = fields.Bool("return_token_strs", false);
            services.GetRequiredService<RequestPlanner>().CheckModel(fields);
            var tokenizer = services.GetRequiredService<ISimTokenizer>();
            var tokens = tokenizer.Encode(text);
            var maxModelLen = services.GetRequiredService<IInferenceEngine>().Options.MaxModelLen;
            await JsonResponses.WriteAsync(http.Response, (tokens, maxModelLen, returnStrings, tokenizer), static (w, s) =>
            {
                w.WriteStartObject();
                w.WriteNumber("count"u8, s.tokens.Length);
                w.WriteNumber("max_model_len"u8, s.maxModelLen);
                w.WriteStartArray("tokens"u8);
                foreach (var id in s.tokens)
                {
                    w.WriteNumberValue(id);
                }

                w.WriteEndArray();
                if (s.returnStrings)
                {
                    w.WriteStartArray("token_strs"u8);
                    foreach (var id in s.tokens)
                    {
                        w.WriteStringValue(s.tokenizer.DecodeToken(id));
                    }

                    w.WriteEndArray();
                }
                else
                {
                    w.WriteNull("token_strs"u8);
                }

                w.WriteEndObject();
            }, http.RequestAborted).ConfigureAwait(false);
        }
        catch (OpenAiException e) when (!http.Response.HasStarted)
        {
            await OpenAiEndpoints.WriteErrorAsync(http, e).ConfigureAwait(false);
        }
    }

    /// <summary>POST /detokenize: {"tokens": [...]} → {"prompt": "..."}.</summary>
    public static async Task DetokenizeAsync(HttpContext http)
    {
        var services = http.RequestServices;
        try
        {
            using var body = await OpenAiEndpoints.ReadJsonAsync(http).ConfigureAwait(false);
            var fields = Object(body.RootElement);
            if (!fields.TryGet("tokens", out var array) || array.ValueKind != JsonValueKind.Array)
            {
                throw OpenAiException.Validation("[{'type': 'missing', 'loc': ('body', 'tokens'), 'msg': 'Field required: a list of token ids'}]", "tokens");
            }

            var ids = new int[array.GetArrayLength()];
            var i = 0;
            foreach (var item in array.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out ids[i]) || ids[i] < 0)
                {
                    throw OpenAiException.Field("tokens", "int_type", "Input should be a valid token id", RequestFields.Repr(item));
                }

                i++;
            }

            services.GetRequiredService<RequestPlanner>().CheckModel(fields);
            string text;
            try
            {
                text = services.GetRequiredService<ISimTokenizer>().Decode(ids);
            }
            catch (Exception e) when (e is ArgumentException or KeyNotFoundException or IndexOutOfRangeException or InvalidOperationException)
            {
                throw OpenAiException.BadRequest("The tokens contain ids outside the model's vocabulary.", "tokens");
            }

            await JsonResponses.WriteAsync(http.Response, text, static (w, t) =>
            {
                w.WriteStartObject();
                w.WriteString("prompt"u8, t);
                w.WriteEndObject();
            }, http.RequestAborted).ConfigureAwait(false);
        }
        catch (OpenAiException e) when (!http.Response.HasStarted)
        {
            await OpenAiEndpoints.WriteErrorAsync(http, e).ConfigureAwait(false);
        }
    }

    private static RequestFields Object(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object
            ? new RequestFields(root)
            : throw OpenAiException.Validation("[{'type': 'model_attributes_type', 'loc': ('body',), 'msg': 'Input should be a valid dictionary or object to extract fields from'}]");
}
