/**
 * keepalived keywords (from keepalived.conf(5)), whether haved reads them or not. In the flattened
 * one-line form a keyword's optional argument must not swallow the next keyword, even one haved
 * skips as unknown: `notify_down /x.sh inhibit_on_failure` has no user.
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
  `
    .split(/\s+/)
    .filter(Boolean),
);
