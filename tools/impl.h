/* The build and read functions of each tool, defined one MSG91 area per
 * file (otp.c, flow.c, segmento.c, campaign.c) and gathered into the table
 * by table.c. */
#ifndef MSG91_TOOLS_IMPL_H
#define MSG91_TOOLS_IMPL_H

#include "tools/tool.h"

/* Declared through the types of tool.h, which each definition must match. */
tool_build_fn send_otp_build, resend_otp_build, verify_otp_build;
tool_read_fn send_otp_read, resend_otp_read, verify_otp_read;

tool_build_fn send_sms_flow_build;
tool_read_fn send_sms_flow_read;

tool_build_fn create_user_events_build, get_event_types_build, get_failed_events_build;
tool_read_fn create_user_events_read, get_event_types_read, get_failed_events_read;

tool_build_fn list_campaigns_build;
tool_read_fn list_campaigns_read;

#endif
