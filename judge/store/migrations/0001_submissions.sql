-- Submissions, one row each: the columns of Judge0's submission resource (§4.1 of the API
-- reference) except the virtual `status` and `language`, plus callback bookkeeping.
--
-- Text attributes are raw bytes (bytea), not Judge0's base64-in-text: programs print arbitrary
-- bytes, and base64 is a property of the wire format chosen per request, not of the data.
-- Limits are nullable as in Judge0; the API fills in the defaults before inserting.

CREATE TABLE submissions (
    id                                          bigserial PRIMARY KEY,
    token                                       uuid NOT NULL UNIQUE,
    source_code                                 bytea,
    language_id                                 integer NOT NULL,
    stdin                                       bytea,
    expected_output                             bytea,
    stdout                                      bytea,
    status_id                                   integer NOT NULL DEFAULT 1,
    created_at                                  timestamptz NOT NULL DEFAULT now(),
    finished_at                                 timestamptz,
    time                                        numeric,
    memory                                      integer,
    stderr                                      bytea,
    number_of_runs                              integer,
    cpu_time_limit                              numeric,
    cpu_extra_time                              numeric,
    wall_time_limit                             numeric,
    memory_limit                                integer,
    stack_limit                                 integer,
    max_processes_and_or_threads                integer,
    enable_per_process_and_thread_time_limit    boolean,
    enable_per_process_and_thread_memory_limit  boolean,
    max_file_size                               integer,
    compile_output                              bytea,
    exit_code                                   integer,
    exit_signal                                 integer,
    message                                     text,
    wall_time                                   numeric,
    compiler_options                            text,
    command_line_arguments                      text,
    redirect_stderr_to_stdout                   boolean,
    callback_url                                text,
    additional_files                            bytea,
    enable_network                              boolean,
    started_at                                  timestamptz,
    queued_at                                   timestamptz,
    updated_at                                  timestamptz NOT NULL DEFAULT now(),
    queue_host                                  text,
    execution_host                              text,
    callback_status                             text,
    callback_attempts                           integer NOT NULL DEFAULT 0
);

-- The reconciler looks for submissions stuck In Queue (1) or Processing (2); they are few
-- among millions of finished ones, so the index holds only them.
CREATE INDEX submissions_unfinished_idx ON submissions (status_id) WHERE status_id IN (1, 2);

-- GET /submissions lists newest first; id breaks ties between equal timestamps so that
-- paging is stable.
CREATE INDEX submissions_created_at_idx ON submissions (created_at DESC, id DESC);
