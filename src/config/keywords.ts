/**
 * keepalived keywords (from keepalived.conf(5) of keepalived 2.2, each checked with `keepalived -t`), whether
 * haved reads them or not. In the flattened one-line form a keyword's optional argument must not swallow the
 * next keyword, even one haved skips as unknown: `notify_down /x.sh inhibit_on_failure` has no user.
 *
 * Where a keyword is registered: a keyword haved reads is an entry of its block's Table (src/config/*.ts);
 * that alone makes it known there (and a suggestion for typos). A keepalived keyword haved does not read
 * belongs here, so that it stays a warning; any other unknown word is an error.
 */
export const KEEPALIVED_KEYWORDS: ReadonlySet<string> = new Set(
  `
  global_defs vrrp_instance vrrp_script vrrp_sync_group virtual_server virtual_server_group static_ipaddress
  static_routes static_rules vrrp_track_file vrrp_track_process track_file track_process linkbeat_use_polling
  include garp_group

  notification_email notification_email_from smtp_server smtp_helo_name smtp_connect_timeout smtp_alert
  smtp_alert_vrrp smtp_alert_checker router_id vrrp_mcast_group4 vrrp_mcast_group6 vrrp_version vrrp_strict
  vrrp_skip_check_adv_addr vrrp_check_unicast_src vrrp_lower_prio_no_advert vrrp_higher_prio_send_advert
  vrrp_down_timer_adverts vrrp_garp_master_delay vrrp_garp_master_repeat vrrp_garp_master_refresh
  vrrp_garp_master_refresh_repeat vrrp_garp_lower_prio_delay vrrp_garp_lower_prio_repeat vrrp_garp_interval
  vrrp_gna_interval vrrp_min_garp vrrp_garp_extra_if vrrp_startup_delay vrrp_delay_after_boot script_user
  enable_script_security startup_script shutdown_script notify_fifo notify_fifo_script vrrp_notify_fifo
  vrrp_notify_fifo_script lvs_notify_fifo lvs_notify_fifo_script vrrp_priority vrrp_no_swap vrrp_rt_priority
  vrrp_cpu_affinity max_auto_priority dynamic_interfaces net_namespace use_pid_dir lvs_id lvs_sync_daemon
  lvs_timeouts checker_priority bfd_priority vrrp_udp_port

  state interface virtual_router_id priority advert_int version nopreempt preempt preempt_delay accept
  no_accept strict_mode dont_track_primary mcast_src_ip unicast_src_ip mcast_dst_ip unicast_peer unicast_ttl
  unicast_fault_no_peer check_unicast_src track_src_ip virtual_ipaddress virtual_ipaddress_excluded
  no_virtual_ipaddress promote_secondaries virtual_routes virtual_rules use_vmac vmac_xmit_base use_ipvlan
  track_interface track_script track_bfd notify_master notify_backup notify_fault notify_stop
  notify_deleted notify notify_master_rx_lower_pri notify_priority_changes garp_master_delay
  garp_master_repeat garp_master_refresh garp_master_refresh_repeat garp_lower_prio_delay
  garp_lower_prio_repeat garp_extra_if down_timer_adverts timer_expired_backup lower_prio_no_advert
  higher_prio_send_advert owner_ignore_adverts authentication auth_type auth_pass auth_hmac
  kernel_rx_buf_size debug lvs_sync_daemon_interface preempt_schedule allowed_peers

  script interval timeout rise fall init_fail global_tracking sync_group_tracking_weight

  delay_loop lb_algo lvs_sched lb_kind lvs_method persistence_timeout persistence_granularity protocol
  sorry_server sorry_server_inhibit sorry_server_lvs_method real_server connect_timeout retry nb_get_retry
  delay_before_retry warmup inhibit_on_failure quorum hysteresis quorum_up quorum_down alpha omega
  ha_suspend virtualhost ops notify_up notify_down uthreshold lthreshold TCP_CHECK HTTP_GET SSL_GET
  SMTP_CHECK DNS_CHECK MISC_CHECK BFD_CHECK UDP_CHECK PING_CHECK FILE_CHECK MEMCACHE_CHECK connect_ip
  connect_port bindto bind_port bind_if fwmark log_all_failures misc_path misc_timeout misc_dynamic

  bfd_instance bfd_cpu_affinity bfd_no_swap bfd_process_name bfd_rlimit_rttime bfd_rt_priority checker
  checker_cpu_affinity checker_log_all_failures checker_no_swap checker_process_name checker_rlimit_rttime
  checker_rt_priority child_wait_time config_save_dir data_use_instance dbus_service_name default_interface
  disable_local_igmp dynamic enable_dbus enable_sni enable_snmp_checker enable_snmp_rfc enable_snmp_rfcv2
  enable_snmp_rfcv3 enable_snmp_vrrp enable_traps fast_recovery fifo_write_vrrp_states_on_reload fork_delay
  full_command garp_interval gna_interval helo_name http_protocol idle_tx include_check includea includeb
  includem includer includew init_file instance interface_up_down_delays ip_address ip_family ip_proto
  json_file_location json_version key linkbeat_interfaces log_unknown_vrids lvs_flush lvs_flush_on_stop
  lvs_flush_onstop lvs_netlink_cmd_rcv_bufs lvs_netlink_cmd_rcv_bufs_force lvs_netlink_monitor_rcv_bufs
  lvs_netlink_monitor_rcv_bufs_force max_hops max_reply_length max_ttl min_auto_priority_delay
  min_reply_length min_rx min_ttl min_tx namespace_with_ipsets native_ipv6 neighbor_ip net_namespace_ipvs
  nftables nftables_counters nftables_ifindex nftables_ipvs nftables_ipvs_priority nftables_ipvs_start_fwmark
  nftables_priority no_checker_emails no_email_faults old_unicast_checksum param_match passive
  persistence_engine preferred_lft process_monitor_rcv_bufs process_monitor_rcv_bufs_force process_name
  process_names quorum_max random_seed regex_max_offset regex_min_offset regex_no_match regex_options
  regex_stack reload_check_config reload_file reload_repeat reload_time_file require_reply rs_init_notifies
  shutdown_script_timeout skip_check_adv_addr snmp_name snmp_socket source_ip startup_script_timeout
  state_dump_file state_file_location stats_file_location status_code terminate_delay tmp_config_directory
  track_group umask use_vmac_addr vmac_addr_prefix vmac_prefix vrrp vrrp_ipsets vrrp_iptables
  vrrp_netlink_cmd_rcv_bufs vrrp_netlink_cmd_rcv_bufs_force vrrp_netlink_monitor_rcv_bufs
  vrrp_netlink_monitor_rcv_bufs_force vrrp_notify_priority_changes vrrp_process_name vrrp_rlimit_rttime
  vrrp_rx_bufs_multiplier vrrp_rx_bufs_policy
  `
    .split(/\s+/)
    .filter(Boolean),
);
