/* The build function and the answer reader of each tool, defined one
 * MSG91 area per file (otp.c, flow.c, segmento.c, campaign.c) and gathered
 * into the table by table.c. */
#ifndef MSG91_TOOLS_IMPL_H
#define MSG91_TOOLS_IMPL_H

#include "tools/answer.h"
#include "tools/tool.h"

/* The build functions are declared through the type of tool.h, which each
 * definition must match. */
tool_build_fn send_otp_build, resend_otp_build, verify_otp_build;
extern const struct answer_reader send_otp_reader, resend_otp_reader, verify_otp_reader;

tool_build_fn send_sms_flow_build;
extern const struct answer_reader send_sms_flow_reader;

tool_build_fn create_user_events_build, get_event_types_build, get_failed_events_build;
extern const struct answer_reader create_user_events_reader, get_event_types_reader,
    get_failed_events_reader;

tool_build_fn list_campaigns_build;
extern const struct answer_reader list_campaigns_reader;

#endif
