// llm: spine-llm's LlmService (models, generation) and ConversationService.
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "spine/v1/llm.grpc.pb.h"
#include "tools/spinectl/commands.h"
#include "tools/spinectl/context.h"

namespace spine::spinectl {
namespace {

using spine::v1::ConversationService;
using spine::v1::LlmService;

absl::Status Models(Context& context, const Args& /*args*/) {
  spine::v1::ListModelsResponse response;
  if (absl::Status status = context.Unary(Service::kLlm, &LlmService::Stub::ListModels,
                                          spine::v1::ListModelsRequest(), &response);
      !status.ok()) {
    return status;
  }
  Table table{{"name", "backend", "max concurrency", "queue limit", "queued", "running"}, {}};
  std::vector<std::string> names;
  for (const spine::v1::Model& model : response.models()) {
    table.rows.push_back({model.name(), model.backend(), std::to_string(model.max_concurrency()),
                          std::to_string(model.queue_limit()), std::to_string(model.queued()),
                          std::to_string(model.running())});
    names.push_back(model.name());
  }
  return context.printer().Print(response, table, names);
}

absl::StatusOr<spine::v1::GenerateRequest> GenerateRequestFrom(const Args& args) {
  spine::v1::GenerateRequest request;
  request.set_model(args.Get("model").value_or("stub"));
  request.set_prompt(args.positional()[0]);
  if (auto system = args.Get("system")) request.set_system(*system);
  if (args.Has("max-tokens")) {
    absl::StatusOr<int32_t> max_tokens = ParseCount(args.Get("max-tokens"), "--max-tokens");
    if (!max_tokens.ok()) return max_tokens.status();
    request.set_max_tokens(*max_tokens);
  }
  if (auto temperature = args.Get("temperature")) {
    double value = 0;
    if (!absl::SimpleAtod(*temperature, &value)) {
      return UsageError(absl::StrCat("--temperature ", *temperature, ": not a number"));
    }
    request.set_temperature(value);
  }
  return request;
}

absl::Status PrintGenerated(Context& context, const spine::v1::GenerateResponse& response) {
  if (context.printer().format() == Format::kTable) {
    context.out() << response.text() << "\n";
    context.err() << "[" << response.model() << ": " << response.finish_reason() << ", "
                  << response.completion_tokens() << " tokens, " << response.duration_ms()
                  << " ms]\n";
    return absl::OkStatus();
  }
  return context.printer().Print(response, {}, {response.text()});
}

absl::Status Generate(Context& context, const Args& args) {
  absl::StatusOr<spine::v1::GenerateRequest> request = GenerateRequestFrom(args);
  if (!request.ok()) return request.status();
  // The service's own bound on a generation follows the caller's deadline.
  request->set_timeout_ms(static_cast<int32_t>(
      std::min<int64_t>(absl::ToInt64Milliseconds(context.settings().timeout), 600000)));
  if (!args.Has("stream")) {
    spine::v1::GenerateResponse response;
    if (absl::Status status =
            context.Unary(Service::kLlm, &LlmService::Stub::Generate, *request, &response);
        !status.ok()) {
      return status;
    }
    return PrintGenerated(context, response);
  }
  LlmService::Stub stub(context.Channel(Service::kLlm));
  spine::v1::GenerateResponse done;
  const bool json = context.printer().format() == Format::kJson;
  return context.Authorized(Service::kLlm, [&](grpc::ClientContext& call) {
    auto reader = stub.StreamGenerate(&call, *request);
    spine::v1::GenerateStreamEvent event;
    while (reader->Read(&event)) {
      if (json) {
        // One event a line, as it arrives.
        absl::StatusOr<std::string> line = ToJson(event);
        if (line.ok()) context.out() << *line << "\n" << std::flush;
      } else if (event.has_delta()) {
        context.out() << event.delta() << std::flush;
      } else if (event.has_done()) {
        done = event.done();
      }
    }
    grpc::Status status = reader->Finish();
    if (status.ok() && !json) {
      context.out() << "\n";
      if (context.printer().format() == Format::kTable) {
        context.err() << "[" << done.model() << ": " << done.finish_reason() << ", "
                      << done.completion_tokens() << " tokens, " << done.duration_ms() << " ms]\n";
      }
    }
    return status;
  });
}

Table ConversationTable(const google::protobuf::RepeatedPtrField<spine::v1::Conversation>& list) {
  Table table{{"id", "model", "created", "title"}, {}};
  for (const auto& conversation : list) {
    table.rows.push_back({std::to_string(conversation.id()), conversation.model(),
                          FormatTime(conversation.create_time()),
                          Truncate(conversation.title(), 50)});
  }
  return table;
}

absl::Status PrintConversation(Context& context, const spine::v1::Conversation& conversation) {
  Table table{{"role", "time", "content"}, {}};
  for (const spine::v1::Message& message : conversation.messages()) {
    table.rows.push_back(
        {message.role(), FormatTime(message.create_time()), Truncate(message.content(), 80)});
  }
  if (context.printer().format() == Format::kTable) {
    context.out() << RenderTable(
        KeyValueTable({{"id", std::to_string(conversation.id())},
                       {"model", conversation.model()},
                       {"title", conversation.title()},
                       {"created", FormatTime(conversation.create_time())}}));
    if (!table.rows.empty()) context.out() << "\n";
    if (table.rows.empty()) return absl::OkStatus();
  }
  return context.printer().Print(conversation, table, {std::to_string(conversation.id())});
}

absl::Status ConversationsList(Context& context, const Args& args) {
  spine::v1::ListConversationsRequest request;
  absl::StatusOr<int32_t> page_size = ParseCount(args.Get("page-size"), "--page-size");
  if (!page_size.ok()) return page_size.status();
  request.set_page_size(*page_size);
  request.set_page_token(args.Get("page-token").value_or(""));
  spine::v1::ListConversationsResponse response;
  if (absl::Status status = context.Unary(
          Service::kLlm, &ConversationService::Stub::ListConversations, request, &response);
      !status.ok()) {
    return status;
  }
  std::vector<std::string> ids;
  for (const auto& conversation : response.conversations()) {
    ids.push_back(std::to_string(conversation.id()));
  }
  absl::Status printed =
      context.printer().Print(response, ConversationTable(response.conversations()), ids);
  if (printed.ok() && context.printer().format() == Format::kTable &&
      !response.next_page_token().empty()) {
    context.err() << "more: --page-token " << response.next_page_token() << "\n";
  }
  return printed;
}

absl::Status ConversationsCreate(Context& context, const Args& args) {
  spine::v1::CreateConversationRequest request;
  request.set_model(args.Get("model").value_or("stub"));
  if (auto system = args.Get("system")) request.set_system(*system);
  if (auto title = args.Get("title")) request.set_title(*title);
  spine::v1::Conversation conversation;
  if (absl::Status status = context.Unary(
          Service::kLlm, &ConversationService::Stub::CreateConversation, request, &conversation);
      !status.ok()) {
    return status;
  }
  return PrintConversation(context, conversation);
}

absl::Status ConversationsGet(Context& context, const Args& args) {
  absl::StatusOr<int64_t> id = ParseId(args.positional()[0], "conversation id");
  if (!id.ok()) return id.status();
  spine::v1::GetConversationRequest request;
  request.set_id(*id);
  spine::v1::Conversation conversation;
  if (absl::Status status = context.Unary(
          Service::kLlm, &ConversationService::Stub::GetConversation, request, &conversation);
      !status.ok()) {
    return status;
  }
  return PrintConversation(context, conversation);
}

absl::Status ConversationsSend(Context& context, const Args& args) {
  absl::StatusOr<int64_t> id = ParseId(args.positional()[0], "conversation id");
  if (!id.ok()) return id.status();
  spine::v1::SendMessageRequest request;
  request.set_id(*id);
  request.set_content(args.positional()[1]);
  spine::v1::SendMessageResponse response;
  if (absl::Status status =
          context.Unary(Service::kLlm, &ConversationService::Stub::SendMessage, request, &response);
      !status.ok()) {
    return status;
  }
  if (context.printer().format() == Format::kTable) {
    context.out() << response.reply().content() << "\n";
    return absl::OkStatus();
  }
  return context.printer().Print(response, {}, {std::to_string(*id)});
}

absl::Status ConversationsDelete(Context& context, const Args& args) {
  absl::StatusOr<int64_t> id = ParseId(args.positional()[0], "conversation id");
  if (!id.ok()) return id.status();
  spine::v1::DeleteConversationRequest request;
  request.set_id(*id);
  google::protobuf::Empty empty;
  if (absl::Status status = context.Unary(
          Service::kLlm, &ConversationService::Stub::DeleteConversation, request, &empty);
      !status.ok()) {
    return status;
  }
  if (context.printer().format() == Format::kTable) {
    context.out() << "deleted conversation " << *id << "\n";
    return absl::OkStatus();
  }
  return context.printer().Print(empty, {}, {std::to_string(*id)});
}

}  // namespace

void RegisterLlmCommands(Registry& registry) {
  registry.DescribeGroup({"llm"}, "Models, generation and conversations");
  registry.DescribeGroup({"llm", "conversations"}, "Conversations with a model");
  registry.Add({{"llm", "models"}, "", "List the models and their queues.", {}, 0, 0, Models});
  registry.Add({{"llm", "generate"},
                "PROMPT",
                "Generate text from PROMPT. With --stream, text is printed as it arrives\n"
                "(with --json: one event a line). --timeout bounds the whole generation.",
                {{"model", "MODEL", "the model (default: stub)"},
                 {"system", "TEXT", "a system prompt"},
                 {"max-tokens", "N", "at most N tokens"},
                 {"temperature", "T", "sampling temperature"},
                 {"stream", "", "print tokens as they arrive"}},
                1,
                1,
                Generate});
  registry.Add({{"llm", "conversations", "list"},
                "",
                "List your conversations.",
                PagingOptions(),
                0,
                0,
                ConversationsList});
  registry.Add({{"llm", "conversations", "create"},
                "",
                "Start a conversation.",
                {{"model", "MODEL", "the model (default: stub)"},
                 {"system", "TEXT", "a system prompt"},
                 {"title", "TITLE", "a title"}},
                0,
                0,
                ConversationsCreate});
  registry.Add({{"llm", "conversations", "get"},
                "ID",
                "Show a conversation with its messages.",
                {},
                1,
                1,
                ConversationsGet});
  registry.Add({{"llm", "conversations", "send"},
                "ID MESSAGE",
                "Send a message and print the reply.",
                {},
                2,
                2,
                ConversationsSend});
  registry.Add({{"llm", "conversations", "delete"},
                "ID",
                "Delete a conversation.",
                {},
                1,
                1,
                ConversationsDelete});
}

}  // namespace spine::spinectl
