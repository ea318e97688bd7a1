// thoughts: spine-storage's ThoughtService.
#include <set>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "spine/v1/storage.grpc.pb.h"
#include "tools/spinectl/commands.h"
#include "tools/spinectl/context.h"

namespace spine::spinectl {
namespace {

using spine::v1::ThoughtService;

Table ThoughtTable(const google::protobuf::RepeatedPtrField<spine::v1::Thought>& thoughts) {
  Table table{{"id", "created", "tags", "text"}, {}};
  for (const spine::v1::Thought& thought : thoughts) {
    table.rows.push_back({std::to_string(thought.id()), FormatTime(thought.create_time()),
                          JoinTags(thought.tags()), Truncate(thought.text(), 60)});
  }
  return table;
}

absl::Status PrintThought(Context& context, const spine::v1::Thought& thought) {
  const Table table = KeyValueTable({{"id", std::to_string(thought.id())},
                                     {"created", FormatTime(thought.create_time())},
                                     {"updated", FormatTime(thought.update_time())},
                                     {"tags", JoinTags(thought.tags())},
                                     {"text", thought.text()}});
  return context.printer().Print(thought, table, {std::to_string(thought.id())});
}

std::vector<std::string> SplitTags(const std::vector<std::string>& values) {
  std::vector<std::string> tags;
  for (const std::string& value : values) {
    for (absl::string_view tag : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
      tags.emplace_back(tag);
    }
  }
  return tags;
}

absl::Status Create(Context& context, const Args& args) {
  spine::v1::CreateThoughtRequest request;
  request.set_text(args.positional()[0]);
  for (const std::string& tag : SplitTags(args.All("tag"))) request.add_tags(tag);
  spine::v1::Thought thought;
  if (absl::Status status =
          context.Unary(Service::kStorage, &ThoughtService::Stub::CreateThought, request, &thought);
      !status.ok()) {
    return status;
  }
  return PrintThought(context, thought);
}

absl::StatusOr<spine::v1::Thought> Fetch(Context& context, const std::string& word) {
  absl::StatusOr<int64_t> id = ParseId(word, "thought id");
  if (!id.ok()) return id.status();
  spine::v1::GetThoughtRequest request;
  request.set_id(*id);
  spine::v1::Thought thought;
  if (absl::Status status =
          context.Unary(Service::kStorage, &ThoughtService::Stub::GetThought, request, &thought);
      !status.ok()) {
    return status;
  }
  return thought;
}

absl::Status Get(Context& context, const Args& args) {
  absl::StatusOr<spine::v1::Thought> thought = Fetch(context, args.positional()[0]);
  if (!thought.ok()) return thought.status();
  return PrintThought(context, *thought);
}

absl::Status List(Context& context, const Args& args, const std::string& query) {
  spine::v1::ListThoughtsRequest request;
  absl::StatusOr<int32_t> page_size = ParseCount(args.Get("page-size"), "--page-size");
  if (!page_size.ok()) return page_size.status();
  request.set_page_size(*page_size);
  request.set_page_token(args.Get("page-token").value_or(""));
  request.set_tag(args.Get("tag").value_or(""));
  request.set_query(query);
  spine::v1::ListThoughtsResponse response;
  if (absl::Status status =
          context.Unary(Service::kStorage, &ThoughtService::Stub::ListThoughts, request, &response);
      !status.ok()) {
    return status;
  }
  std::vector<std::string> ids;
  for (const auto& thought : response.thoughts()) ids.push_back(std::to_string(thought.id()));
  absl::Status printed = context.printer().Print(response, ThoughtTable(response.thoughts()), ids);
  if (printed.ok() && context.printer().format() == Format::kTable &&
      !response.next_page_token().empty()) {
    context.err() << "more: --page-token " << response.next_page_token() << "\n";
  }
  return printed;
}

absl::Status Update(Context& context, int64_t id, const std::optional<std::string>& text,
                    const std::optional<std::vector<std::string>>& tags) {
  spine::v1::UpdateThoughtRequest request;
  request.set_id(id);
  if (text) {
    request.set_text(*text);
    request.mutable_update_mask()->add_paths("text");
  }
  if (tags) {
    for (const std::string& tag : *tags) request.add_tags(tag);
    request.mutable_update_mask()->add_paths("tags");
  }
  spine::v1::Thought thought;
  if (absl::Status status =
          context.Unary(Service::kStorage, &ThoughtService::Stub::UpdateThought, request, &thought);
      !status.ok()) {
    return status;
  }
  return PrintThought(context, thought);
}

absl::Status Tag(Context& context, const Args& args) {
  absl::StatusOr<spine::v1::Thought> thought = Fetch(context, args.positional()[0]);
  if (!thought.ok()) return thought.status();
  std::vector<std::string> tags(thought->tags().begin(), thought->tags().end());
  const std::vector<std::string> removed = SplitTags(args.All("remove"));
  std::erase_if(tags, [&](const std::string& tag) {
    return std::find(removed.begin(), removed.end(), tag) != removed.end();
  });
  for (size_t i = 1; i < args.positional().size(); ++i) {
    for (const std::string& tag : SplitTags({args.positional()[i]})) {
      if (std::find(tags.begin(), tags.end(), tag) == tags.end()) tags.push_back(tag);
    }
  }
  return Update(context, thought->id(), std::nullopt, tags);
}

absl::Status Edit(Context& context, const Args& args) {
  absl::StatusOr<int64_t> id = ParseId(args.positional()[0], "thought id");
  if (!id.ok()) return id.status();
  std::optional<std::vector<std::string>> tags;
  if (args.Has("tags")) tags = SplitTags(args.All("tags"));
  if (!args.Has("text") && !tags) return UsageError("give --text and/or --tags");
  return Update(context, *id, args.Get("text"), tags);
}

absl::Status Delete(Context& context, const Args& args) {
  absl::StatusOr<int64_t> id = ParseId(args.positional()[0], "thought id");
  if (!id.ok()) return id.status();
  spine::v1::DeleteThoughtRequest request;
  request.set_id(*id);
  google::protobuf::Empty empty;
  if (absl::Status status =
          context.Unary(Service::kStorage, &ThoughtService::Stub::DeleteThought, request, &empty);
      !status.ok()) {
    return status;
  }
  if (context.printer().format() == Format::kTable) {
    context.out() << "deleted thought " << *id << "\n";
    return absl::OkStatus();
  }
  return context.printer().Print(empty, {}, {std::to_string(*id)});
}

}  // namespace

void RegisterThoughtCommands(Registry& registry) {
  registry.DescribeGroup({"thoughts"}, "Your thoughts: notes with tags, searchable");
  std::vector<OptionSpec> list_options = PagingOptions();
  list_options.push_back({"tag", "TAG", "only thoughts with this tag"});
  registry.Add({{"thoughts", "create"},
                "TEXT",
                "Create a thought.",
                {{"tag", "TAG", "a tag (repeat, or comma-separate, for more)"}},
                1,
                1,
                Create});
  registry.Add({{"thoughts", "get"}, "ID", "Show one thought.", {}, 1, 1, Get});
  registry.Add({{"thoughts", "list"},
                "",
                "List thoughts, newest first, a page at a time.",
                list_options,
                0,
                0,
                [](Context& context, const Args& args) { return List(context, args, ""); }});
  registry.Add({{"thoughts", "search"},
                "QUERY",
                "Full-text search: words are ANDed, `word*` matches a prefix.",
                list_options,
                1,
                1,
                [](Context& context, const Args& args) {
                  return List(context, args, args.positional()[0]);
                }});
  registry.Add({{"thoughts", "tag"},
                "ID TAG...",
                "Add tags to a thought (and remove others with --remove).",
                {{"remove", "TAG", "remove this tag (repeatable)"}},
                1,
                64,
                Tag});
  registry.Add({{"thoughts", "edit"},
                "ID",
                "Replace a thought's text and/or its tags.",
                {{"text", "TEXT", "the new text"},
                 {"tags", "TAGS", "the new tags, comma-separated (\"\" clears them)"}},
                1,
                1,
                Edit});
  registry.Add({{"thoughts", "delete"}, "ID", "Delete a thought.", {}, 1, 1, Delete});
}

}  // namespace spine::spinectl
