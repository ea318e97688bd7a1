// SqliteAdapter's conversations, pipelines and runs (see sqlite_adapter.h).
#include <functional>
#include <limits>

#include "absl/strings/str_cat.h"
#include "libs/core/status.h"
#include "nlohmann/json.hpp"
#include "services/storage/sqlite/sqlite_adapter.h"

namespace spine::storage {
namespace {

absl::Status NotFound(absl::string_view kind, int64_t id) {
  return absl::NotFoundError(absl::StrCat(kind, " ", id, " not found"));
}

// Rows of `stmt` read by `read` until the end.
template <typename Row>
absl::StatusOr<std::vector<Row>> ReadAll(Statement& stmt,
                                         const std::function<Row(const Statement&)>& read) {
  std::vector<Row> rows;
  while (true) {
    SPINE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    rows.push_back(read(stmt));
  }
  return rows;
}

// Binds the (user, cursor, limit) parameters ?1..?5 shared by the owned-page listings.
void BindOwnedPage(Statement& stmt, const OwnedPageQuery& query) {
  // The first page starts above every row; a row-value bound lets SQLite seek the index.
  constexpr int64_t kNoCursor = std::numeric_limits<int64_t>::max();
  const PageCursor after = query.after.value_or(PageCursor{kNoCursor, kNoCursor});
  stmt.BindInt(1, query.user_id);
  stmt.BindInt(3, after.create_micros);
  stmt.BindInt(4, after.id);
  stmt.BindInt(5, query.limit);
}

constexpr char kCursorPredicate[] = "(create_micros, id) < (?3, ?4)";

constexpr char kConversationColumns[] =
    "SELECT id, user_id, model, title, system, state, create_micros FROM conversations ";

Conversation ReadConversation(const Statement& stmt) {
  return Conversation{.id = stmt.ColumnInt(0),
                      .user_id = stmt.ColumnInt(1),
                      .model = stmt.ColumnText(2),
                      .title = stmt.ColumnText(3),
                      .system = stmt.ColumnText(4),
                      .state = stmt.ColumnText(5),
                      .create_micros = stmt.ColumnInt(6)};
}

absl::StatusOr<Conversation> SelectConversation(SqliteConnection& db, int64_t user_id, int64_t id,
                                                bool with_messages) {
  Conversation conversation;
  {
    SPINE_ASSIGN_OR_RETURN(auto stmt, db.Prepare(absl::StrCat(kConversationColumns,
                                                              "WHERE id = ?1 AND user_id = ?2")));
    stmt->BindInt(1, id);
    stmt->BindInt(2, user_id);
    SPINE_ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) return NotFound("conversation", id);
    conversation = ReadConversation(*stmt);
  }
  if (!with_messages) return conversation;
  SPINE_ASSIGN_OR_RETURN(
      auto messages, db.Prepare("SELECT role, content, create_micros FROM conversation_messages "
                                "WHERE conversation_id = ?1 ORDER BY seq"));
  messages->BindInt(1, id);
  SPINE_ASSIGN_OR_RETURN(conversation.messages,
                         ReadAll<ConversationMessage>(*messages, [](const Statement& stmt) {
                           return ConversationMessage{.role = stmt.ColumnText(0),
                                                      .content = stmt.ColumnText(1),
                                                      .create_micros = stmt.ColumnInt(2)};
                         }));
  return conversation;
}

constexpr char kPipelineColumns[] =
    "SELECT id, user_id, name, definition_json, create_micros FROM pipelines ";

Pipeline ReadPipeline(const Statement& stmt) {
  return Pipeline{.id = stmt.ColumnInt(0),
                  .user_id = stmt.ColumnInt(1),
                  .name = stmt.ColumnText(2),
                  .definition_json = stmt.ColumnText(3),
                  .create_micros = stmt.ColumnInt(4)};
}

constexpr char kRunColumns[] =
    "SELECT id, user_id, pipeline_id, state, idempotency_key, payload, create_micros, "
    "update_micros FROM runs ";

RunRecord ReadRun(const Statement& stmt) {
  return RunRecord{.id = stmt.ColumnInt(0),
                   .user_id = stmt.ColumnInt(1),
                   .pipeline_id = stmt.ColumnInt(2),
                   .state = stmt.ColumnText(3),
                   .idempotency_key = stmt.ColumnText(4),
                   .payload = stmt.ColumnBlob(5),
                   .create_micros = stmt.ColumnInt(6),
                   .update_micros = stmt.ColumnInt(7)};
}

absl::StatusOr<RunRecord> SelectRun(SqliteConnection& db, int64_t user_id, int64_t id) {
  SPINE_ASSIGN_OR_RETURN(auto stmt,
                         db.Prepare(absl::StrCat(kRunColumns, "WHERE id = ?1 AND user_id = ?2")));
  stmt->BindInt(1, id);
  stmt->BindInt(2, user_id);
  SPINE_ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return NotFound("run", id);
  return ReadRun(*stmt);
}

// Deletes the user's row `id` from `table`; NOT_FOUND when nothing matched.
absl::StatusOr<bool> DeleteOwned(SqliteConnection& db, const char* table, int64_t user_id,
                                 int64_t id) {
  SPINE_ASSIGN_OR_RETURN(auto remove, db.Prepare(absl::StrCat("DELETE FROM ", table,
                                                              " WHERE id = ?1 AND user_id = ?2")));
  remove->BindInt(1, id);
  remove->BindInt(2, user_id);
  SPINE_RETURN_IF_ERROR(remove->Run());
  return db.changes() > 0;
}

}  // namespace

absl::StatusOr<Conversation> SqliteAdapter::InsertConversation(const Conversation& conversation) {
  return WriteTransaction([&](SqliteConnection& db) -> absl::StatusOr<Conversation> {
    SPINE_ASSIGN_OR_RETURN(
        auto insert, db.Prepare("INSERT INTO conversations (user_id, model, title, system, state, "
                                "create_micros) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
    insert->BindInt(1, conversation.user_id);
    insert->BindText(2, conversation.model);
    insert->BindText(3, conversation.title);
    insert->BindText(4, conversation.system);
    insert->BindText(5, conversation.state);
    insert->BindInt(6, conversation.create_micros);
    SPINE_RETURN_IF_ERROR(insert->Run());
    Conversation stored = conversation;
    stored.id = db.last_insert_rowid();
    stored.messages.clear();
    return stored;
  });
}

absl::StatusOr<Conversation> SqliteAdapter::GetConversation(int64_t user_id, int64_t id,
                                                            bool with_messages) {
  Reader reader = AcquireReader();
  return SelectConversation(*reader, user_id, id, with_messages);
}

absl::StatusOr<std::vector<Conversation>> SqliteAdapter::ListConversations(
    const OwnedPageQuery& query) {
  Reader reader = AcquireReader();
  SPINE_ASSIGN_OR_RETURN(
      auto stmt, (*reader).Prepare(absl::StrCat(kConversationColumns, "WHERE user_id = ?1 AND ",
                                                kCursorPredicate,
                                                " ORDER BY create_micros DESC, id DESC LIMIT ?5")));
  BindOwnedPage(*stmt, query);
  return ReadAll<Conversation>(*stmt, ReadConversation);
}

absl::StatusOr<Conversation> SqliteAdapter::AppendConversationMessages(
    int64_t user_id, int64_t id, const ConversationAppend& append) {
  return WriteTransaction([&](SqliteConnection& db) -> absl::StatusOr<Conversation> {
    SPINE_ASSIGN_OR_RETURN(Conversation current, SelectConversation(db, user_id, id, false));
    if (current.state != append.expect_state) {
      return absl::AbortedError(absl::StrCat("conversation ", id, " is '", current.state,
                                             "', not '", append.expect_state, "'"));
    }
    {
      SPINE_ASSIGN_OR_RETURN(
          auto insert,
          db.Prepare("INSERT INTO conversation_messages (conversation_id, seq, role, content, "
                     "create_micros) VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM "
                     "conversation_messages WHERE conversation_id = ?1), ?2, ?3, ?4)"));
      for (const ConversationMessage& message : append.messages) {
        insert->BindInt(1, id);
        insert->BindText(2, message.role);
        insert->BindText(3, message.content);
        insert->BindInt(4, message.create_micros);
        SPINE_RETURN_IF_ERROR(insert->Run());
        insert->Reset();
      }
    }
    {
      SPINE_ASSIGN_OR_RETURN(auto update,
                             db.Prepare("UPDATE conversations SET state = ?1 WHERE id = ?2"));
      update->BindText(1, append.new_state);
      update->BindInt(2, id);
      SPINE_RETURN_IF_ERROR(update->Run());
    }
    return SelectConversation(db, user_id, id, true);
  });
}

absl::Status SqliteAdapter::DeleteConversation(int64_t user_id, int64_t id) {
  // Messages go with it: ON DELETE CASCADE.
  absl::StatusOr<bool> deleted = WriteTransaction(
      [&](SqliteConnection& db) { return DeleteOwned(db, "conversations", user_id, id); });
  if (!deleted.ok()) return deleted.status();
  return *deleted ? absl::OkStatus() : NotFound("conversation", id);
}

absl::StatusOr<Pipeline> SqliteAdapter::InsertPipeline(const Pipeline& pipeline) {
  return WriteTransaction([&](SqliteConnection& db) -> absl::StatusOr<Pipeline> {
    SPINE_ASSIGN_OR_RETURN(auto insert,
                           db.Prepare("INSERT INTO pipelines (user_id, name, definition_json, "
                                      "create_micros) VALUES (?1, ?2, ?3, ?4)"));
    insert->BindInt(1, pipeline.user_id);
    insert->BindText(2, pipeline.name);
    insert->BindText(3, pipeline.definition_json);
    insert->BindInt(4, pipeline.create_micros);
    SPINE_RETURN_IF_ERROR(insert->Run());
    Pipeline stored = pipeline;
    stored.id = db.last_insert_rowid();
    return stored;
  });
}

absl::StatusOr<Pipeline> SqliteAdapter::GetPipeline(int64_t user_id, int64_t id) {
  Reader reader = AcquireReader();
  SPINE_ASSIGN_OR_RETURN(auto stmt, (*reader).Prepare(absl::StrCat(
                                        kPipelineColumns, "WHERE id = ?1 AND user_id = ?2")));
  stmt->BindInt(1, id);
  stmt->BindInt(2, user_id);
  SPINE_ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return NotFound("pipeline", id);
  return ReadPipeline(*stmt);
}

absl::StatusOr<std::vector<Pipeline>> SqliteAdapter::ListPipelines(const OwnedPageQuery& query) {
  Reader reader = AcquireReader();
  SPINE_ASSIGN_OR_RETURN(
      auto stmt,
      (*reader).Prepare(absl::StrCat(kPipelineColumns, "WHERE user_id = ?1 AND ", kCursorPredicate,
                                     " ORDER BY create_micros DESC, id DESC LIMIT ?5")));
  BindOwnedPage(*stmt, query);
  return ReadAll<Pipeline>(*stmt, ReadPipeline);
}

absl::Status SqliteAdapter::DeletePipeline(int64_t user_id, int64_t id) {
  absl::StatusOr<bool> deleted = WriteTransaction(
      [&](SqliteConnection& db) { return DeleteOwned(db, "pipelines", user_id, id); });
  if (!deleted.ok()) return deleted.status();
  return *deleted ? absl::OkStatus() : NotFound("pipeline", id);
}

absl::StatusOr<RunInsert> SqliteAdapter::InsertRun(const RunRecord& run) {
  return WriteTransaction([&](SqliteConnection& db) -> absl::StatusOr<RunInsert> {
    if (!run.idempotency_key.empty()) {
      SPINE_ASSIGN_OR_RETURN(
          auto existing,
          db.Prepare(absl::StrCat(kRunColumns, "WHERE user_id = ?1 AND idempotency_key = ?2")));
      existing->BindInt(1, run.user_id);
      existing->BindText(2, run.idempotency_key);
      SPINE_ASSIGN_OR_RETURN(bool row, existing->Step());
      if (row) return RunInsert{.run = ReadRun(*existing), .created = false};
    }
    SPINE_ASSIGN_OR_RETURN(
        auto insert,
        db.Prepare("INSERT INTO runs (user_id, pipeline_id, state, idempotency_key, payload, "
                   "create_micros, update_micros) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
    insert->BindInt(1, run.user_id);
    insert->BindInt(2, run.pipeline_id);
    insert->BindText(3, run.state);
    insert->BindText(4, run.idempotency_key);
    insert->BindBlob(5, run.payload);
    insert->BindInt(6, run.create_micros);
    insert->BindInt(7, run.update_micros);
    SPINE_RETURN_IF_ERROR(insert->Run());
    RunInsert inserted{.run = run, .created = true};
    inserted.run.id = db.last_insert_rowid();
    return inserted;
  });
}

absl::StatusOr<RunRecord> SqliteAdapter::UpdateRun(const RunRecord& run,
                                                   const std::vector<std::string>& final_states) {
  return WriteTransaction([&](SqliteConnection& db) -> absl::StatusOr<RunRecord> {
    SPINE_ASSIGN_OR_RETURN(RunRecord stored, SelectRun(db, run.user_id, run.id));
    for (const std::string& final_state : final_states) {
      if (stored.state == final_state) {
        return absl::AbortedError(
            absl::StrCat("run ", run.id, " already finished (", stored.state, ")"));
      }
    }
    SPINE_ASSIGN_OR_RETURN(
        auto update,
        db.Prepare("UPDATE runs SET state = ?1, payload = ?2, update_micros = ?3 WHERE id = ?4"));
    update->BindText(1, run.state);
    update->BindBlob(2, run.payload);
    update->BindInt(3, run.update_micros);
    update->BindInt(4, run.id);
    SPINE_RETURN_IF_ERROR(update->Run());
    stored.state = run.state;
    stored.payload = run.payload;
    stored.update_micros = run.update_micros;
    return stored;
  });
}

absl::StatusOr<RunRecord> SqliteAdapter::GetRun(int64_t user_id, int64_t id) {
  Reader reader = AcquireReader();
  return SelectRun(*reader, user_id, id);
}

absl::StatusOr<std::vector<RunRecord>> SqliteAdapter::ListRuns(const RunQuery& query) {
  // One statement for every filter combination; the state set travels as one JSON array
  // parameter, so nothing is spliced into the SQL.
  static const std::string kList =
      absl::StrCat(kRunColumns, "WHERE (?1 = 0 OR user_id = ?1) AND ", kCursorPredicate,
                   " AND (?6 = 0 OR pipeline_id = ?6) "
                   "AND (?7 = '[]' OR state IN (SELECT value FROM json_each(?7))) "
                   "ORDER BY create_micros DESC, id DESC LIMIT ?5");
  Reader reader = AcquireReader();
  SPINE_ASSIGN_OR_RETURN(auto stmt, (*reader).Prepare(kList));
  BindOwnedPage(*stmt, {.user_id = query.user_id, .after = query.after, .limit = query.limit});
  stmt->BindInt(6, query.pipeline_id);
  stmt->BindText(
      7,
      nlohmann::json(query.states).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return ReadAll<RunRecord>(*stmt, ReadRun);
}

}  // namespace spine::storage
